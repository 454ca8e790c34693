"""Delivery figures for municipal monitoring: orders, pickups and no-shows per delivery point, and
apart from them the orders still waiting for a slot (never counted as orders).

Counts only, never who ordered. A booking counts in the period of its cycle's delivery day when the
cycle has closed, else of the day it was made.
"""

from collections import defaultdict
from datetime import UTC, date

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.delivery.bookings import CONFIRMED, HELD, NO_SHOW, PICKED_UP, WAITLISTED
from services.delivery.models import Booking, Consignment, Cycle, DeliveryPoint
from services.delivery.pickup import BOLIVIA

ORDER_STATUSES = (HELD, CONFIRMED, PICKED_UP, NO_SHOW)


def _in_period(day: date, date_from: date | None, date_to: date | None) -> bool:
    return (date_from is None or day >= date_from) and (date_to is None or day <= date_to)


async def delivery_stats(*, session: AsyncSession, municipality_code: str | None, date_from: date | None,
                         date_to: date | None) -> list[dict]:
    points_query = select(DeliveryPoint).order_by(DeliveryPoint.id)
    if municipality_code:
        points_query = points_query.where(DeliveryPoint.municipality_code == municipality_code)
    points = {p.id: p for p in (await session.execute(points_query)).scalars()}
    counts: dict[int, dict[str, int]] = defaultdict(lambda: {"orders": 0, "picked_up": 0, "no_shows": 0,
                                                             "consignments_received": 0, "waitlisted": 0})
    if points:
        rows = (await session.execute(
            select(Booking.point_id, Booking.status, Booking.created_at, Cycle.delivery_date, func.count())
            .outerjoin(Cycle, Cycle.id == Booking.cycle_id)
            .where(Booking.point_id.in_(list(points)), Booking.status.in_((*ORDER_STATUSES, WAITLISTED)))
            .group_by(Booking.point_id, Booking.status, Booking.created_at, Cycle.delivery_date))).all()
        for point_id, status, created_at, delivery_date, n in rows:
            if created_at.tzinfo is None:
                created_at = created_at.replace(tzinfo=UTC)
            day = delivery_date or created_at.astimezone(BOLIVIA).date()
            if not _in_period(day, date_from, date_to):
                continue
            if status == WAITLISTED:
                counts[point_id]["waitlisted"] += n
                continue
            counts[point_id]["orders"] += n
            if status == PICKED_UP:
                counts[point_id]["picked_up"] += n
            elif status == NO_SHOW:
                counts[point_id]["no_shows"] += n
        received = (await session.execute(
            select(Consignment.delivery_point_id, Cycle.delivery_date, func.count())
            .join(Cycle, Cycle.id == Consignment.cycle_id)
            .where(Consignment.delivery_point_id.in_(list(points)), Consignment.status == "received")
            .group_by(Consignment.delivery_point_id, Cycle.delivery_date))).all()
        for point_id, delivery_date, n in received:
            if _in_period(delivery_date, date_from, date_to):
                counts[point_id]["consignments_received"] += n
    return [{"point_id": p.id, "point_name": p.name, "kind": p.kind, "municipality_code": p.municipality_code,
             **counts[p.id]} for p in points.values()]
