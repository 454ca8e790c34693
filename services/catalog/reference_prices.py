"""Reference prices that municipality accounts enter, per category or product name, for fair-price
monitoring. A municipality changes only its own; everybody may read them."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.catalog import access
from services.catalog.models import ReferencePrice
from services.catalog.registry import ensure_municipality
from services.catalog.schemas import ReferencePriceIn, ReferencePriceOut
from services.catalog.text import fold
from services.common.auth import Principal
from services.common.errors import InvalidInput, NotFound
from services.common.money import from_centavos, to_centavos
from services.common.pagination import PageParams, make_page
from services.common.tables import utcnow


def _out(row: ReferencePrice) -> ReferencePriceOut:
    return ReferencePriceOut(id=row.id, municipality_code=row.municipality_code, category=row.category,
                             product_name=row.product_name, unit=row.unit,
                             price=f"{from_centavos(row.price_centavos):.2f}", valid_from=row.valid_from,
                             created_at=row.created_at)


async def add_reference_price(*, session: AsyncSession, principal: Principal,
                              data: ReferencePriceIn) -> ReferencePriceOut:
    access.ensure_own_municipality(principal, data.municipality_code)
    if data.category is None and data.product_name is None:
        raise InvalidInput("a reference price names a category or a product", code="category_or_product_required")
    await ensure_municipality(session=session, code=data.municipality_code)
    now = utcnow()
    row = ReferencePrice(municipality_code=data.municipality_code,
                         category=data.category.value if data.category else None,
                         product_name=data.product_name, search_name=fold(data.product_name) if data.product_name else None,
                         unit=data.unit.value, price_centavos=to_centavos(data.price),
                         valid_from=data.valid_from or now.date(), entered_by=principal.account_id, created_at=now)
    session.add(row)
    await session.flush()
    return _out(row)


async def _own(session: AsyncSession, principal: Principal, reference_id: int) -> ReferencePrice:
    row = await session.get(ReferencePrice, reference_id)
    if row is None:
        raise NotFound(f"reference price {reference_id} does not exist", code="reference_price_not_found")
    access.ensure_own_municipality(principal, row.municipality_code)
    return row


async def change_reference_price(*, session: AsyncSession, principal: Principal, reference_id: int,
                                 price) -> ReferencePriceOut:
    row = await _own(session, principal, reference_id)
    row.price_centavos = to_centavos(price)
    await session.flush()
    return _out(row)


async def remove_reference_price(*, session: AsyncSession, principal: Principal, reference_id: int) -> None:
    row = await _own(session, principal, reference_id)
    await session.delete(row)
    await session.flush()


async def list_reference_prices(*, session: AsyncSession, municipality: str | None, category: str | None,
                                params: PageParams) -> tuple[list[ReferencePriceOut], str | None]:
    query = select(ReferencePrice).order_by(ReferencePrice.id).limit(params.limit + 1)
    if municipality:
        query = query.where(ReferencePrice.municipality_code == municipality)
    if category:
        query = query.where(ReferencePrice.category == category)
    if params.cursor is not None:
        if len(params.cursor) != 1 or not isinstance(params.cursor[0], int):
            raise InvalidInput("cursor is not valid; use the next_cursor of a previous page", code="invalid_cursor")
        query = query.where(ReferencePrice.id > params.cursor[0])
    rows = list((await session.execute(query)).scalars())
    rows, cursor = make_page(rows, params.limit, lambda r: [r.id])
    return [_out(r) for r in rows], cursor
