"""Dependencies shared by the catalog routers."""

from typing import Annotated

from fastapi import Depends, Request

from services.catalog.photos import PhotoStore
from services.common.pagination import PageParams, page_params
from services.common.read_cache import ReadCache


async def photo_store(request: Request) -> PhotoStore:  # async: no thread hop
    return request.app.state.photo_store


async def read_cache(request: Request) -> ReadCache:
    return request.app.state.read_cache


Photos = Annotated[PhotoStore, Depends(photo_store)]
Cache = Annotated[ReadCache, Depends(read_cache)]
Paging = Annotated[PageParams, Depends(page_params)]
