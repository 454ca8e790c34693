"""Delivery's part of the consistency audit (services/common/audit.py), read-only.

Found here: a point's `booked` counter for a cycle that differs from its bookings holding a slot
(held, confirmed, picked up or no-show: only a release gives a slot back). Facts for the gateway:
each order's booking status, and the received consignments with their accepted value.
"""

from collections import Counter

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.audit import audit_router, discrepancy
from services.delivery.bookings import CONFIRMED, HELD, NO_SHOW, PICKED_UP
from services.delivery.models import Booking, Consignment, PointCapacity

SERVICE = "delivery"
TAKING_A_SLOT = (HELD, CONFIRMED, PICKED_UP, NO_SHOW)


async def audit(session: AsyncSession, settings) -> tuple[list[dict], dict]:
    bookings = Booking.__table__
    rows = (await session.execute(select(bookings.c.order_id, bookings.c.point_id, bookings.c.cycle_id,
                                         bookings.c.status))).all()
    taken = Counter((r.point_id, r.cycle_id) for r in rows if r.status in TAKING_A_SLOT)
    capacities = PointCapacity.__table__
    found = []
    for cap in (await session.execute(select(capacities).order_by(capacities.c.point_id,
                                                                   capacities.c.cycle_id))).all():
        expected = taken.pop((cap.point_id, cap.cycle_id), 0)
        if cap.booked != expected:
            found.append(discrepancy("slots_conservation", SERVICE,
                                     f"point {cap.point_id}, cycle {cap.cycle_id}: booked is {cap.booked} "
                                     f"but {expected} bookings hold a slot",
                                     point_id=cap.point_id, cycle_id=cap.cycle_id))
    for (point_id, cycle_id), count in sorted(taken.items()):
        found.append(discrepancy("slots_conservation", SERVICE,
                                 f"point {point_id}, cycle {cycle_id}: {count} bookings hold a slot that was never counted",
                                 point_id=point_id, cycle_id=cycle_id))
    consignments = Consignment.__table__
    received = (await session.execute(select(consignments.c.id, consignments.c.producer_id,
                                             consignments.c.accepted_value_centavos)
                                      .where(consignments.c.status == "received").order_by(consignments.c.id))).all()
    return found, {"bookings": {r.order_id: r.status for r in rows},
                   "received_consignments": [{"id": c.id, "producer_id": c.producer_id,
                                              "accepted_value": c.accepted_value_centavos} for c in received]}


router = audit_router(SERVICE, audit)
