"""Sales figures for municipal monitoring (`GET /stats/sales`): what was sold, at what price, by
whom in aggregate — counted per producer municipality and per delivery point, so the gateway can
sum any territory both ways (what its producers sold, and what reached its delivery points).

Aggregates only: no consumer, no producer name, no phone; a municipality asking directly gets no
product row of fewer than 3 producers (`services.common.disclosure`). A line counts when its order was placed
and not cancelled or failed (orders still waiting for a slot are never sales: `waitlisted_orders`
counts them apart), in the period of its cycle's delivery day; its quantity is what the
order got after case allocation (or what was ordered before consolidation), its value the line
total at the price paid.
"""

from collections import defaultdict
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.app import Session
from services.common.auth import MonitoringCaller, Principal, Role
from services.common.disclosure import suppress_for
from services.common.errors import Forbidden, InvalidInput
from services.common.money import from_centavos
from services.common.units import quantity_text
from services.orders.models import cycles, order_lines, orders

SOLD = ("placed", "packed", "ready", "picked_up", "no_show")

router = APIRouter(tags=["monitoring"])


def _bs(centavos) -> str:
    return f"{from_centavos(int(centavos or 0)):.2f}"


async def sales_stats(*, session: AsyncSession, municipalities: list[str] | None, date_from: date | None,
                      date_to: date | None, points: list[int] | None = None,
                      caller: Principal | None = None) -> dict:
    quantity = func.coalesce(order_lines.c.allocated_quantity, order_lines.c.quantity)
    def lines_of(statuses):
        query = (select().select_from(order_lines.join(orders, orders.c.id == order_lines.c.order_id)
                                      .join(cycles, cycles.c.id == orders.c.cycle_id))
                 .where(orders.c.status.in_(statuses)))
        if municipalities:
            query = query.where(order_lines.c.municipality_code.in_(municipalities))
        if points:
            query = query.where(order_lines.c.delivery_point_id.in_(points))
        if date_from:
            query = query.where(cycles.c.delivery_date >= date_from)
        if date_to:
            query = query.where(cycles.c.delivery_date <= date_to)
        return query

    base = lines_of(SOLD)

    keys = (order_lines.c.municipality_code, order_lines.c.delivery_point_id, order_lines.c.category,
            order_lines.c.product_name, order_lines.c.unit)
    product_rows = (await session.execute(base.add_columns(
        *keys, func.sum(quantity), func.sum(order_lines.c.line_total), func.count(),
        func.count(func.distinct(order_lines.c.order_id)), func.count(func.distinct(order_lines.c.producer_id)))
        .group_by(*keys).order_by(*keys))).all()
    producer_rows = (await session.execute(base.add_columns(
        order_lines.c.municipality_code, order_lines.c.producer_gender,
        func.count(func.distinct(order_lines.c.producer_id)))
        .group_by(order_lines.c.municipality_code, order_lines.c.producer_gender))).all()
    kind = (order_lines.c.category, order_lines.c.product_name, order_lines.c.unit)
    kind_rows = (await session.execute(base.add_columns(*kind, func.count(func.distinct(order_lines.c.producer_id)))
                                       .group_by(*kind).order_by(*kind))).all()
    order_count = (await session.execute(base.add_columns(func.count(func.distinct(orders.c.id))))).scalar_one()
    waiting = (await session.execute(lines_of(("waitlisted",)).add_columns(
        func.count(func.distinct(orders.c.id))))).scalar_one()

    producers: dict[str, dict[str, int]] = defaultdict(dict)
    for code, gender, n in producer_rows:
        producers[code or ""][gender or "otro"] = int(n)
    return {
        "municipalities": municipalities, "points": points, "from": date_from, "to": date_to,
        "orders": int(order_count), "waitlisted_orders": int(waiting),
        "products": suppress_for(caller, [
            {"municipality_code": code or "", "delivery_point_id": point, "category": category or "",
             "product": name, "unit": unit, "quantity": quantity_text(q), "value": _bs(v), "lines": int(lines),
             "orders": int(n_orders), "producers": int(n_producers)}
            for code, point, category, name, unit, q, v, lines, n_orders, n_producers in product_rows],
            key="producers"),
        "producers": [{"municipality_code": code, "by_gender": by_gender} for code, by_gender in
                      sorted(producers.items())],
        # how many producers sold each product kind across the whole selection (for small-group rules)
        "product_producers": suppress_for(caller, [
            {"category": category or "", "product": name, "unit": unit, "producers": int(n)}
            for category, name, unit, n in kind_rows], key="producers"),
    }


@router.get("/stats/sales", summary="Quantities and values sold at the price paid, per producer municipality "
                                    "(no personal data)")
async def sales(session: Session, caller: MonitoringCaller,
                municipality: Annotated[list[str] | None, Query(description="producers' INE codes; repeat for several")] = None,
                point: Annotated[list[int] | None, Query(description="delivery point ids; repeat for several")] = None,
                date_from: Annotated[date | None, Query(alias="from")] = None,
                date_to: Annotated[date | None, Query(alias="to")] = None):
    codes = [c for c in (municipality or []) if c]
    if any(not (len(c) == 6 and c.isdigit()) for c in codes) or len(codes) > 400:
        raise InvalidInput("municipality takes INE codes of six digits, e.g. 020101", code="invalid_municipality")
    point_ids = [p for p in (point or []) if p]
    if any(not (1 <= p <= 2**53) for p in point_ids) or len(point_ids) > 1000:
        raise InvalidInput("point takes delivery point ids (at most 1000)", code="invalid_point")
    if caller is not None and caller.role == Role.municipality:
        if point_ids:
            raise Forbidden("filtering by delivery point is for the gateway and coordinators",
                            code="role_required")
        if any(c != caller.municipality_code for c in codes):
            raise Forbidden("a municipality sees its own territory only", code="not_your_municipality")
        codes = [caller.municipality_code]
    if date_from and date_to and date_from > date_to:
        raise InvalidInput("the period is reversed: 'from' must be on or before 'to'", code="invalid_period")
    return await sales_stats(session=session, municipalities=codes or None, points=point_ids or None,
                             date_from=date_from, date_to=date_to, caller=caller)
