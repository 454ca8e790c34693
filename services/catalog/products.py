"""Products: offering, changing and withdrawing them, their public price history and photos.

Every price (the first one included) is appended to `price_changes`. A product is unique per
producer, folded name and unit; a duplicate is a 409, and every check runs before anything is
written, inside the request's unit of work, so a refused request leaves nothing behind.
"""

from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.catalog import access
from services.catalog.certifications import covering_certifications, today, valid_certifications
from services.catalog.models import CATEGORY_LABELS, Category, PriceChange, Producer, Product
from services.catalog.photos import PhotoStore, ProcessedPhoto, new_keys
from services.catalog.schemas import PriceChangeOut, ProductIn, ProductOut
from services.catalog.text import fold
from services.common.auth import Principal, Role
from services.common.errors import Conflict, InvalidInput, NotFound
from services.common.money import from_centavos, to_centavos
from services.common.pagination import PageParams, make_page
from services.common.tables import utcnow
from services.common.units import CONVERSIONS, Unit, quantity_text

products = Product.__table__
producers = Producer.__table__

PRODUCT_COLUMNS = (*products.c, producers.c.name.label("producer_name"), producers.c.municipality_code,
                   producers.c.organization_id)


def product_rows_query():
    return select(*PRODUCT_COLUMNS).join(producers, producers.c.id == products.c.producer_id)


def _positive(name: str, value: Decimal | None) -> None:
    if value is not None and value <= 0:
        raise InvalidInput(f"{name} must be more than zero", code="invalid_quantity", details={"field": name})


def _photo_url(store: PhotoStore | None, key: str | None) -> str | None:
    return store.url(key) if key and store else None


async def views(*, session: AsyncSession, rows: list, store: PhotoStore | None,
                valid: list | None = None) -> list[ProductOut]:
    """Rows of `product_rows_query()` as the API shows them, with today's certification."""
    if valid is None:
        valid = await valid_certifications(session=session, day=today())
    certified = covering_certifications(products=rows, valid=valid)
    out = []
    for r in rows:
        unit = Unit(r.unit)
        base, factor = CONVERSIONS[unit]
        out.append(ProductOut(
            id=r.id, producer_id=r.producer_id, producer_name=r.producer_name,
            municipality_code=r.municipality_code, organization_id=r.organization_id, name=r.name,
            category=r.category, category_label=CATEGORY_LABELS[Category(r.category)], description=r.description,
            unit=unit.value, base_unit=base.value, base_per_unit=quantity_text(factor),
            price=f"{from_centavos(r.price_centavos):.2f}", available=quantity_text(r.available),
            reserved=quantity_text(r.reserved), sold=quantity_text(r.sold), min_order_quantity=quantity_text(r.min_order_quantity),
            case_size=quantity_text(r.case_size) if r.case_size is not None else None, active=r.active,
            certified=bool(certified.get(r.id)), certifications=certified.get(r.id, []),
            photo_url=_photo_url(store, r.photo_key), thumbnail_url=_photo_url(store, r.thumbnail_key),
            created_at=r.created_at, updated_at=r.updated_at))
    return out


async def load_row(*, session: AsyncSession, product_id: int):
    row = (await session.execute(product_rows_query().where(products.c.id == product_id))).first()
    if row is None:
        raise NotFound(f"product {product_id} does not exist", code="product_not_found",
                       details={"product_id": product_id})
    return row


async def get_product(*, session: AsyncSession, product_id: int, store: PhotoStore | None) -> ProductOut:
    row = await load_row(session=session, product_id=product_id)
    return (await views(session=session, rows=[row], store=store))[0]


async def _ensure_unique(session: AsyncSession, *, producer_id: int, search_name: str, unit: str,
                         exclude_id: int | None = None) -> None:
    query = select(products.c.id).where(products.c.producer_id == producer_id,
                                        products.c.search_name == search_name, products.c.unit == unit)
    if exclude_id is not None:
        query = query.where(products.c.id != exclude_id)
    other = (await session.execute(query)).scalar()
    if other is not None:
        raise Conflict("this producer already offers a product with that name and unit; change that one",
                       code="duplicate_product", details={"product_id": other})


async def _flush_unique(session: AsyncSession) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent twin won the unique constraint
        raise Conflict("this producer already offers a product with that name and unit",
                       code="duplicate_product") from exc


async def create_product(*, session: AsyncSession, principal: Principal, data: ProductIn,
                         store: PhotoStore | None = None) -> ProductOut:
    producer_id = data.producer_id
    if producer_id is None:
        if principal.role != Role.producer or principal.producer_id is None:
            raise InvalidInput("say which producer offers the product (producer_id)", code="producer_required")
        producer_id = principal.producer_id
    await access.ensure_can_manage_products(session=session, principal=principal, producer_id=producer_id)
    _positive("min_order_quantity", data.min_order_quantity)
    _positive("case_size", data.case_size)
    search_name = fold(data.name)
    await _ensure_unique(session, producer_id=producer_id, search_name=search_name, unit=data.unit.value)
    now = utcnow()
    product = Product(producer_id=producer_id, name=data.name, search_name=search_name,
                      category=data.category.value, description=data.description, unit=data.unit.value,
                      price_centavos=to_centavos(data.price), available=data.available, reserved=Decimal(0),
                      sold=Decimal(0), min_order_quantity=data.min_order_quantity, case_size=data.case_size,
                      active=data.active, created_at=now, updated_at=now)
    session.add(product)
    await _flush_unique(session)
    session.add(PriceChange(product_id=product.id, price_centavos=product.price_centavos, unit=product.unit,
                            changed_by=principal.account_id, changed_at=now))
    await session.flush()
    return await get_product(session=session, product_id=product.id, store=store)


async def _owned_product(session: AsyncSession, principal: Principal, product_id: int) -> Product:
    product = await session.get(Product, product_id, with_for_update=True)
    if product is None:
        raise NotFound(f"product {product_id} does not exist", code="product_not_found",
                       details={"product_id": product_id})
    await access.ensure_can_manage_products(session=session, principal=principal, producer_id=product.producer_id)
    return product


async def update_product(*, session: AsyncSession, principal: Principal, product_id: int,
                         changes: dict[str, Any], store: PhotoStore | None = None) -> ProductOut:
    product = await _owned_product(session, principal, product_id)
    _positive("min_order_quantity", changes.get("min_order_quantity"))
    _positive("case_size", changes.get("case_size"))
    now = utcnow()
    if "unit" in changes and changes["unit"].value != product.unit and Decimal(product.reserved) > 0:
        raise Conflict("the unit cannot change while orders hold stock of this product",
                       code="unit_locked", details={"reserved": quantity_text(product.reserved)})
    name = changes.get("name", product.name)
    unit = changes["unit"].value if "unit" in changes else product.unit
    if fold(name) != product.search_name or unit != product.unit:
        await _ensure_unique(session, producer_id=product.producer_id, search_name=fold(name), unit=unit,
                             exclude_id=product.id)
    new_price = to_centavos(changes["price"]) if "price" in changes else product.price_centavos
    price_changed = new_price != product.price_centavos or unit != product.unit
    product.name, product.search_name, product.unit, product.price_centavos = name, fold(name), unit, new_price
    if "category" in changes:
        product.category = changes["category"].value
    for key in ("description", "available", "min_order_quantity", "case_size", "active"):
        if key in changes:
            setattr(product, key, changes[key])
    product.updated_at = now
    await _flush_unique(session)
    if price_changed:
        session.add(PriceChange(product_id=product.id, price_centavos=new_price, unit=unit,
                                changed_by=principal.account_id, changed_at=now))
        await session.flush()
    return await get_product(session=session, product_id=product.id, store=store)


async def withdraw_product(*, session: AsyncSession, principal: Principal, product_id: int) -> None:
    """Products are never deleted (orders and history point at them): they stop being on sale."""
    product = await _owned_product(session, principal, product_id)
    product.active = False
    product.updated_at = utcnow()
    await session.flush()


async def price_history(*, session: AsyncSession, product_id: int,
                        params: PageParams) -> tuple[list[PriceChangeOut], str | None]:
    await load_row(session=session, product_id=product_id)
    query = (select(PriceChange).where(PriceChange.product_id == product_id)
             .order_by(PriceChange.id.desc()).limit(params.limit + 1))
    if params.cursor is not None:
        if len(params.cursor) != 1 or not isinstance(params.cursor[0], int):
            raise InvalidInput("cursor is not valid; use the next_cursor of a previous page", code="invalid_cursor")
        query = query.where(PriceChange.id < params.cursor[0])
    rows = list((await session.execute(query)).scalars())
    rows, cursor = make_page(rows, params.limit, lambda r: [r.id])
    return [PriceChangeOut(price=f"{from_centavos(r.price_centavos):.2f}", unit=r.unit, changed_at=r.changed_at)
            for r in rows], cursor


async def attach_photo(*, session: AsyncSession, principal: Principal, product_id: int, photo: ProcessedPhoto,
                       store: PhotoStore) -> ProductOut:
    product = await _owned_product(session, principal, product_id)
    photo_key, thumb_key = new_keys(product.id, photo.extension)
    await store.put(photo_key, photo.data, photo.content_type)
    await store.put(thumb_key, photo.thumbnail, "image/jpeg")
    product.photo_key, product.thumbnail_key, product.updated_at = photo_key, thumb_key, utcnow()
    await session.flush()
    return await get_product(session=session, product_id=product.id, store=store)
