"""Reference prices that municipality accounts enter, per category or product name and unit, for
fair-price monitoring, kept as a history. A municipality changes only its own; everybody may read them.

A price is never changed in place nor deleted: a new price of the same product (or category) and
unit closes the one before it (its `valid_to` becomes the new `valid_from`); withdrawing a price
closes it today. A version is valid on day d when `valid_from <= d < valid_to` (or `valid_to` is
empty). Each version may carry a fair band: `band_min` (the least a producer should be paid) and
`band_max` (the most a consumer should pay), with band_min <= price <= band_max.
"""

from datetime import date

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.catalog import access
from services.catalog.models import Municipality, ReferencePrice
from services.catalog.registry import ensure_municipality
from services.catalog.schemas import ReferencePriceIn, ReferencePriceOut
from services.catalog.text import fold
from services.common import clock
from services.common.auth import Principal
from services.common.errors import Conflict, InvalidInput, NotFound
from services.common.money import from_centavos, to_centavos
from services.common.pagination import PageParams, make_page
from services.common.tables import utcnow


def _bs(centavos: int | None) -> str | None:
    return None if centavos is None else f"{from_centavos(centavos):.2f}"


def _out(row: ReferencePrice) -> ReferencePriceOut:
    return ReferencePriceOut(id=row.id, municipality_code=row.municipality_code, category=row.category,
                             product_name=row.product_name, unit=row.unit, price=_bs(row.price_centavos),
                             band_min=_bs(row.band_min_centavos), band_max=_bs(row.band_max_centavos),
                             valid_from=row.valid_from, valid_to=row.valid_to, created_at=row.created_at)


def valid_on(query, day: date):
    """`query` over reference prices limited to the versions valid on `day`."""
    return query.where(ReferencePrice.valid_from <= day,
                       or_(ReferencePrice.valid_to.is_(None), ReferencePrice.valid_to > day))


def kind_of(row: ReferencePrice) -> tuple:
    """What a version is a price of: a product name (whatever its category), else a category; in a unit."""
    return row.municipality_code, None if row.search_name else row.category, row.search_name, row.unit


async def _latest_of_kind(session: AsyncSession, *, municipality_code: str, category: str | None,
                          search_name: str | None, unit: str) -> ReferencePrice | None:
    query = select(ReferencePrice).where(ReferencePrice.municipality_code == municipality_code,
                                         ReferencePrice.unit == unit)
    if search_name:
        query = query.where(ReferencePrice.search_name == search_name)
    else:
        query = query.where(ReferencePrice.search_name.is_(None), ReferencePrice.category == category)
    query = query.order_by(ReferencePrice.valid_from.desc(), ReferencePrice.id.desc()).limit(1)
    return (await session.execute(query)).scalars().first()


def _check_band(data: ReferencePriceIn) -> None:
    low = data.band_min if data.band_min is not None else data.price
    high = data.band_max if data.band_max is not None else data.price
    if not low <= data.price <= high:
        raise InvalidInput("the fair band must hold the price: band_min <= price <= band_max",
                           code="price_outside_band",
                           details={"price": f"{data.price:.2f}",
                                    "band_min": None if data.band_min is None else f"{data.band_min:.2f}",
                                    "band_max": None if data.band_max is None else f"{data.band_max:.2f}"})


async def add_reference_price(*, session: AsyncSession, principal: Principal,
                              data: ReferencePriceIn) -> ReferencePriceOut:
    """Enter a new version; it closes the version of the same kind before it."""
    access.ensure_own_municipality(principal, data.municipality_code)
    if data.category is None and data.product_name is None:
        raise InvalidInput("a reference price names a category or a product", code="category_or_product_required")
    _check_band(data)
    await ensure_municipality(session=session, code=data.municipality_code)
    # one new version at a time per municipality, so two cannot both close the same one
    await session.execute(select(Municipality.code).where(Municipality.code == data.municipality_code)
                          .with_for_update())
    now = utcnow()
    valid_from = data.valid_from or clock.today()
    search_name = fold(data.product_name) if data.product_name else None
    category = data.category.value if data.category else None
    latest = await _latest_of_kind(session, municipality_code=data.municipality_code, category=category,
                                   search_name=search_name, unit=data.unit.value)
    if latest is not None:
        if valid_from < latest.valid_from:
            raise Conflict("reference prices are a history that only moves forward: a new price must be valid "
                           "from the latest one's valid_from or later", code="reference_price_before_latest",
                           details={"latest_id": latest.id, "latest_valid_from": latest.valid_from.isoformat()})
        if latest.valid_to is None or latest.valid_to > valid_from:
            latest.valid_to = valid_from
    row = ReferencePrice(municipality_code=data.municipality_code, category=category,
                         product_name=data.product_name, search_name=search_name, unit=data.unit.value,
                         price_centavos=to_centavos(data.price),
                         band_min_centavos=None if data.band_min is None else to_centavos(data.band_min),
                         band_max_centavos=None if data.band_max is None else to_centavos(data.band_max),
                         valid_from=valid_from, entered_by=principal.account_id, created_at=now)
    session.add(row)
    await session.flush()
    return _out(row)


async def _own(session: AsyncSession, principal: Principal, reference_id: int) -> ReferencePrice:
    row = await session.get(ReferencePrice, reference_id)
    if row is None:
        raise NotFound(f"reference price {reference_id} does not exist", code="reference_price_not_found")
    access.ensure_own_municipality(principal, row.municipality_code)
    return row


async def refuse_change(*, session: AsyncSession, principal: Principal, reference_id: int) -> None:
    """A version is never changed in place: the answer says how to enter the new price."""
    await _own(session, principal, reference_id)
    raise InvalidInput("reference prices are a history and are not changed in place: enter the new price with "
                       "POST /reference-prices (same product or category and unit); it closes this one",
                       code="reference_price_is_history",
                       details={"reference_id": reference_id, "use": "POST /reference-prices"})


async def withdraw_reference_price(*, session: AsyncSession, principal: Principal, reference_id: int) -> None:
    """Close the latest version of its kind today (or on its first day, if it starts later); it stays in
    the history. Withdrawing it again changes nothing; a version a later one follows is already closed."""
    row = await _own(session, principal, reference_id)
    municipality, category, search_name, unit = kind_of(row)
    latest = await _latest_of_kind(session, municipality_code=municipality, category=category,
                                   search_name=search_name, unit=unit)
    if latest is not None and latest.id != row.id:
        raise Conflict("a later price of this product and unit follows this one, so it is already closed; "
                       "withdraw the latest one", code="reference_price_superseded",
                       details={"latest_id": latest.id})
    if row.valid_to is None:
        row.valid_to = max(clock.today(), row.valid_from)
        await session.flush()


async def list_reference_prices(*, session: AsyncSession, municipality: str | None, category: str | None,
                                on: date | None, history: bool,
                                params: PageParams) -> tuple[list[ReferencePriceOut], str | None]:
    """The versions valid on `on` (today when not given), or every version with `history`."""
    if history and on is not None:
        raise InvalidInput("ask for the prices valid on a day or for the whole history, not both",
                           code="invalid_filter")
    query = select(ReferencePrice).order_by(ReferencePrice.id).limit(params.limit + 1)
    if not history:
        query = valid_on(query, on or clock.today())
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
