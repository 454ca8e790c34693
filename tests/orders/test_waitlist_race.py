"""Real concurrency on PostgreSQL: consumers racing for a point's slots while placed orders are
cancelled, with promotions travelling as events at the same time. Never more than the capacity
placed, every freed slot goes to the next waiting order, nobody is promoted twice."""

import asyncio
from collections import Counter

from sqlalchemy import func, select

from services.delivery.models import Booking, PointCapacity
from services.delivery.models import kernel as delivery_kernel
from services.orders.models import kernel as orders_kernel
from services.orders.models import orders
from tests.conftest import require_postgres
from tests.orders.conftest import platform

SLOTS, RACERS, CANCELLED = 10, 50, 5


async def _placed(p, cycle_id: int) -> int:
    async with p.orders_db.session() as s:
        return (await s.execute(select(func.count()).where(orders.c.cycle_id == cycle_id,
                                                           orders.c.status == "placed"))).scalar_one()


async def _slots(p, point: int, cycle_id: int) -> tuple[int, int]:
    """(booked, holding bookings) read in one statement, so from one snapshot."""
    holding = (select(func.count()).select_from(Booking)
               .where(Booking.point_id == point, Booking.cycle_id == cycle_id,
                      Booking.status.in_(("held", "confirmed"))).scalar_subquery())
    async with p.delivery_db.session() as s:
        row = (await s.execute(select(PointCapacity.booked, holding).where(
            PointCapacity.point_id == point, PointCapacity.cycle_id == cycle_id))).one()
    return row[0], row[1]


async def _event_orders(db, kernel, event_type: str) -> Counter:
    async with db.session() as s:
        payloads = (await s.execute(select(kernel.outbox.c.payload)
                                    .where(kernel.outbox.c.event_type == event_type))).scalars()
        return Counter(str(p["order_id"]) for p in payloads)


async def test_racing_orders_and_cancellations_keep_exactly_the_slots_placed_and_a_contiguous_list(migrated, keys):
    require_postgres()
    async with platform(migrated, keys, "postgres", live=True) as p:
        papa = await p.product(available="1000")
        point = await p.point(capacity=SLOTS)
        cycle = await p.open_cycle(points=[point])
        cycle_id, lines = cycle["id"], [{"product_id": papa, "quantity": "1"}]
        early = [(await p.order(consumer=c, cycle=cycle_id, point=point, lines=lines)).json()
                 for c in range(1, CANCELLED + 1)]
        assert {o["status"] for o in early} == {"placed"}

        racing = True
        samples = []

        async def pump():
            while racing:
                await p.pump(rounds=3)
                await asyncio.sleep(0.01)

        async def watch():
            while racing:
                placed, (booked, holding) = await _placed(p, cycle_id), await _slots(p, point, cycle_id)
                samples.append((placed, booked, holding))
                await asyncio.sleep(0.02)

        async def order(consumer):
            return await p.order(consumer=consumer, cycle=cycle_id, point=point, lines=lines, wait_if_full=True,
                                 key=f"race-{consumer}")

        async def cancel(o):
            return await p.orders.post(f"/orders/{o['id']}/cancel", headers=p.consumer(o["consumer_account_id"]))

        helpers = [asyncio.create_task(pump()), asyncio.create_task(watch())]
        answers = await asyncio.gather(*[order(c) for c in range(100, 100 + RACERS)], *[cancel(o) for o in early])
        racing = False
        await asyncio.gather(*helpers)
        await p.pump()

        assert [r.status_code for r in answers[:RACERS]] == [201] * RACERS
        assert [r.json()["status"] for r in answers[RACERS:]] == ["cancelled"] * CANCELLED
        # at every moment: delivery never held more slots than it has, and orders never had more placed
        assert samples and all(placed <= SLOTS and holding == booked <= SLOTS for placed, booked, holding in samples)
        # settled: exactly the slots placed, all of them racers, and the rest waiting in booking order
        assert await _placed(p, cycle_id) == SLOTS
        assert await _slots(p, point, cycle_id) == (SLOTS, SLOTS)
        listed = (await p.orders.get("/orders", params={"cycle_id": cycle_id, "limit": 100},
                                     headers=p.coordinator())).json()["items"]
        by_status = Counter(o["status"] for o in listed)
        assert by_status == {"placed": SLOTS, "waitlisted": RACERS - SLOTS, "cancelled": CANCELLED}
        waiting = sorted((o for o in listed if o["status"] == "waitlisted"), key=lambda o: o["waitlist_position"])
        assert [o["waitlist_position"] for o in waiting] == list(range(1, RACERS - SLOTS + 1))
        async with p.delivery_db.session() as s:
            delivery_list = (await s.execute(select(Booking.order_id).where(
                Booking.point_id == point, Booking.status == "waitlisted").order_by(Booking.id))).scalars().all()
        assert [str(o["id"]) for o in waiting] == list(delivery_list)
        # nobody promoted twice, at delivery or in orders; every placed order announced once
        assert max((await _event_orders(p.delivery_db, delivery_kernel, "booking.promoted")).values(),
                   default=0) <= 1
        promoted = await _event_orders(p.orders_db, orders_kernel, "order.promoted")
        assert max(promoted.values(), default=0) <= 1
        placed_events = await _event_orders(p.orders_db, orders_kernel, "order.placed")
        placed_ids = {str(o["id"]) for o in listed if o["status"] == "placed"}
        assert set(placed_events) == placed_ids | {str(o["id"]) for o in early}
        assert set(placed_events.values()) == {1}
        assert set(promoted) <= placed_ids
        # the cancellations freed their slots for waiting racers: no racer placed at once took more than was free
        assert len(promoted) == SLOTS - sum(1 for r in answers[:RACERS] if r.json()["status"] == "placed")
