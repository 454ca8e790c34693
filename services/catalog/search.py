"""Product search: accent- and case-blind text, filters, three sort orders, keyset cursors.

`q` is folded the same way names are (services.catalog.text.fold) and matched as a substring of
the stored `search_name`, so "platano" finds "Plátano" on SQLite and PostgreSQL; on PostgreSQL a
trigram index serves the match. Only products on sale are listed.
"""

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from sqlalchemy import and_, event, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.catalog.certifications import certified_clause, today, valid_certifications
from services.catalog.products import producers, product_rows_query, products, views
from services.catalog.schemas import ProductOut
from services.catalog.text import escape_like, fold
from services.common.errors import InvalidInput
from services.common.money import to_centavos
from services.common.pagination import PageParams, make_page

Sort = Literal["name", "price", "-price", "newest"]


@dataclass(frozen=True)
class SearchFilters:
    q: str | None = None
    category: str | None = None
    municipality: str | None = None
    organization: int | None = None
    producer: int | None = None
    certified: bool | None = None
    min_price: Decimal | None = None
    max_price: Decimal | None = None


# sort -> (columns of the key, descending?)
_KEYS = {
    "name": ((products.c.search_name, products.c.id), False),
    "price": ((products.c.price_centavos, products.c.id), False),
    "-price": ((products.c.price_centavos, products.c.id), True),
    "newest": ((products.c.id,), True),
}
_KEY_TYPES = {"name": (str, int), "price": (int, int), "-price": (int, int), "newest": (int,)}


def _after(columns, values, descending: bool):
    """Rows strictly after the cursor in the sort order (expanded tuple comparison)."""
    clauses = []
    for i, column in enumerate(columns):
        equal = [c == v for c, v in zip(columns[:i], values[:i], strict=True)]
        step = column < values[i] if descending else column > values[i]
        clauses.append(and_(*equal, step))
    return or_(*clauses)


def _cursor(params: PageParams, sort: str) -> list | None:
    if params.cursor is None:
        return None
    kinds = _KEY_TYPES[sort]
    values = params.cursor
    if len(values) != len(kinds) or not all(isinstance(v, k) and not isinstance(v, bool)
                                            for v, k in zip(values, kinds, strict=True)):
        raise InvalidInput("cursor does not belong to this sort order; start again without a cursor",
                           code="invalid_cursor")
    return values


async def search_products(*, session: AsyncSession, filters: SearchFilters, sort: Sort, params: PageParams,
                          store=None) -> tuple[list[ProductOut], str | None]:
    if filters.min_price is not None and filters.max_price is not None and filters.min_price > filters.max_price:
        raise InvalidInput("min_price is above max_price", code="invalid_price_range")
    valid = await valid_certifications(session=session, day=today())
    columns, descending = _KEYS[sort]
    needs_producer = bool(filters.municipality) or filters.organization is not None or filters.certified is not None
    source = products.join(producers, producers.c.id == products.c.producer_id) if needs_producer else products
    # first the page's ids and sort keys (narrow rows), then the full rows of just those
    query = select(*{c.name: c for c in (products.c.id, *columns)}.values()).select_from(source) \
        .where(products.c.active.is_(True))
    if filters.q:
        needle = fold(filters.q)
        if needle:
            query = query.where(products.c.search_name.like(f"%{escape_like(needle)}%", escape="\\"))
    if filters.category:
        query = query.where(products.c.category == filters.category)
    if filters.municipality:
        query = query.where(producers.c.municipality_code == filters.municipality)
    if filters.organization is not None:
        query = query.where(producers.c.organization_id == filters.organization)
    if filters.producer is not None:
        query = query.where(products.c.producer_id == filters.producer)
    if filters.certified is not None:
        clause = certified_clause(valid)
        query = query.where(clause if filters.certified else ~clause)
    if filters.min_price is not None:
        query = query.where(products.c.price_centavos >= to_centavos(filters.min_price))
    if filters.max_price is not None:
        query = query.where(products.c.price_centavos <= to_centavos(filters.max_price))
    after = _cursor(params, sort)
    if after is not None:
        query = query.where(_after(columns, after, descending))

    narrowing = filters.q or filters.municipality or filters.organization is not None \
        or filters.producer is not None or filters.certified is not None
    keys = columns
    if narrowing:
        # Find the matches first (trigram or foreign-key indexes), then sort just them: without this
        # fence the planner walks the whole sort index hoping to meet matches early, which is slow
        # when they sort late ("quinua" by name). OFFSET 0 keeps the subquery from being flattened.
        matches = query.offset(0).subquery("matches")
        keys = tuple(matches.c[c.name] for c in columns)
        query = select(matches)
    order = [c.desc() if descending else c.asc() for c in keys]
    page = query.order_by(*order).limit(params.limit + 1).subquery("page")
    page_keys = [page.c[c.name] for c in columns]
    full = product_rows_query().join(page, page.c.id == products.c.id) \
        .order_by(*[c.desc() if descending else c.asc() for c in page_keys])
    rows = list((await session.execute(full)).all())
    rows, cursor = make_page(rows, params.limit, lambda r: [getattr(r, c.name) for c in columns])
    return await views(session=session, rows=rows, store=store, valid=valid), cursor


def tune_planner(db) -> None:
    """On PostgreSQL, price random reads as the cached/SSD reads they are (random_page_cost 1.1,
    set once per pooled connection): at the default of 4 the planner prefers scanning the whole
    product table to using the trigram index for a text search, several times slower."""
    if db.is_sqlite or getattr(db, "_planner_tuned", False):
        return

    @event.listens_for(db.engine.sync_engine, "connect")
    def _on_connect(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("SET random_page_cost = 1.1")
        cursor.close()

    db._planner_tuned = True
