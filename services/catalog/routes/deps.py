"""Dependencies shared by the catalog routers."""

from typing import Annotated

from fastapi import Depends, Request

from services.catalog.photos import PhotoStore
from services.common.pagination import PageParams, page_params


async def photo_store(request: Request) -> PhotoStore:  # async: no thread hop
    return request.app.state.photo_store


Photos = Annotated[PhotoStore, Depends(photo_store)]
Paging = Annotated[PageParams, Depends(page_params)]
