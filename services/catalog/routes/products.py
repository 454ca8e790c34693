"""Products: search, details, offering and changing them, price history, photos, categories."""


from typing import Annotated

from fastapi import APIRouter, File, Path, Query, Request, Response, UploadFile
from pydantic import TypeAdapter

from services.catalog import products
from services.catalog.models import CATEGORY_LABELS, Category
from services.catalog.photos import PhotoTooLarge, process_photo
from services.catalog.routes.deps import Cache, Paging, Photos
from services.catalog.schemas import (
    ERROR_RESPONSES,
    MAX_ID,
    CategoryOut,
    PriceChangeOut,
    ProductIn,
    ProductOut,
    ProductPatch,
)
from services.catalog.search import SearchFilters, Sort, search_products
from services.common.app import Session
from services.common.auth import CurrentPrincipal
from services.common.money import PositiveAmount
from services.common.pagination import Page
from services.common.read_cache import conditional_json, encoded, query_key

router = APIRouter(responses=ERROR_RESPONSES, tags=["products"])
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
IdQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]


CATEGORIES = TypeAdapter(list[CategoryOut]).dump_json(
    [CategoryOut(slug=c.value, label=CATEGORY_LABELS[c]) for c in Category])


@router.get("/categories", response_model=list[CategoryOut])
async def list_categories(request: Request):
    return conditional_json(request, CATEGORIES)


# The public reads a shop makes on every visit are answered from memory while nothing changed (see
# services/common/read_cache.py), with an ETag a phone sends back to get 304 instead of the page.
@router.get("/products", response_model=Page[ProductOut], summary="Search products on sale")
async def search(request: Request, session: Session, paging: Paging, store: Photos, cache: Cache,
                 q: Annotated[str | None, Query(max_length=100, description="accents and case do not matter")] = None,
                 category: Category | None = None,
                 municipality: Annotated[str | None, Query(pattern=r"^[0-9]{6}$")] = None,
                 organization: IdQuery = None, producer: IdQuery = None, certified: bool | None = None,
                 min_price: Annotated[PositiveAmount | None, Query()] = None,
                 max_price: Annotated[PositiveAmount | None, Query()] = None,
                 sort: Sort = "name"):
    filters = SearchFilters(q=q, category=category.value if category else None, municipality=municipality,
                            organization=organization, producer=producer, certified=certified,
                            min_price=min_price, max_price=max_price)
    key = query_key(request)
    cached = cache.get(key)
    if cached is None:
        generation = cache.generation
        items, cursor = await search_products(session=session, filters=filters, sort=sort, params=paging, store=store)
        cached = cache.put(key, encoded(Page[ProductOut](items=items, next_cursor=cursor)), generation)
    return conditional_json(request, cached.body, cached.etag)


@router.post("/products", response_model=ProductOut, status_code=201)
async def create_product(body: ProductIn, session: Session, principal: CurrentPrincipal, store: Photos):
    return await products.create_product(session=session, principal=principal, data=body, store=store)


@router.get("/products/{product_id}", response_model=ProductOut)
async def get_product(product_id: IdPath, request: Request, session: Session, store: Photos, cache: Cache):
    key = ("product", product_id)
    cached = cache.get(key)
    if cached is None:
        generation = cache.generation
        product = await products.get_product(session=session, product_id=product_id, store=store)
        cached = cache.put(key, encoded(product), generation)
    return conditional_json(request, cached.body, cached.etag)


@router.patch("/products/{product_id}", response_model=ProductOut)
async def update_product(product_id: IdPath, body: ProductPatch, session: Session, principal: CurrentPrincipal,
                         store: Photos):
    changes = {k: getattr(body, k) for k in body.model_fields_set}
    return await products.update_product(session=session, principal=principal, product_id=product_id,
                                         changes=changes, store=store)


@router.delete("/products/{product_id}", status_code=204, summary="Withdraw a product from sale")
async def withdraw_product(product_id: IdPath, session: Session, principal: CurrentPrincipal):
    await products.withdraw_product(session=session, principal=principal, product_id=product_id)
    return Response(status_code=204)


@router.get("/products/{product_id}/prices", response_model=Page[PriceChangeOut], summary="Price history")
async def price_history(product_id: IdPath, session: Session, paging: Paging):
    items, cursor = await products.price_history(session=session, product_id=product_id, params=paging)
    return {"items": items, "next_cursor": cursor}


@router.post("/products/{product_id}/photo", response_model=ProductOut, summary="Upload a JPEG, PNG or WebP photo")
async def upload_photo(product_id: IdPath, request: Request, session: Session, principal: CurrentPrincipal,
                       store: Photos, file: Annotated[UploadFile, File()]):
    settings = request.app.state.settings
    data = await file.read(settings.photo_max_bytes + 1)
    if len(data) > settings.photo_max_bytes:
        raise PhotoTooLarge(f"the photo is over the limit of {settings.photo_max_bytes // 1024} KB",
                            details={"limit_bytes": settings.photo_max_bytes})
    photo = process_photo(data, max_bytes=settings.photo_max_bytes, max_side=settings.photo_max_side,
                          thumbnail_side=settings.thumbnail_side)
    return await products.attach_photo(session=session, principal=principal, product_id=product_id, photo=photo,
                                       store=store)


@router.get("/photos/{key:path}", include_in_schema=False)
async def photo(key: str, store: Photos):
    data, content_type = await store.get(key)
    return Response(data, media_type=content_type, headers={"Cache-Control": "public, max-age=86400"})


