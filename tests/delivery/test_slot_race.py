"""The slot count holds under real concurrency on PostgreSQL."""

import asyncio

from sqlalchemy import func, select

from services.delivery.models import Booking, PointCapacity
from tests.delivery.conftest import SERVICE_KEY, create_point
from tests.delivery.test_points_and_bookings import outbox_events


async def test_hundred_concurrent_bookings_for_twenty_slots_hold_twenty_and_waitlist_eighty(live_delivery, keys):
    client, db = live_delivery
    point = await create_point(client, keys, max_orders_per_cycle=20)
    pid = point["id"]

    async def book(n: int):
        return await client.post("/internal/bookings", json={"order_id": f"race-{n}", "point_id": pid,
                                                             "cycle_id": 77, "capacity": None},
                                 headers=SERVICE_KEY)

    answers = await asyncio.gather(*[book(n) for n in range(100)])
    held = [r for r in answers if r.status_code == 201]
    full = [r for r in answers if r.status_code == 409]
    assert len(held) == 20 and len(full) == 80, sorted({r.status_code for r in answers})
    assert {r.json()["error"]["code"] for r in full} == {"point_full"}

    confirms = await asyncio.gather(*[client.post(f"/internal/bookings/{r.json()['order_id']}/confirm",
                                                  headers=SERVICE_KEY) for r in held])
    assert all(r.status_code == 200 for r in confirms)
    assert len({r.json()["pickup_code"] for r in confirms}) == 20

    async with db.session() as session:
        row = await session.get(PointCapacity, (pid, 77))
        assert (row.capacity, row.booked) == (20, 20)
        by_status = dict((await session.execute(select(Booking.status, func.count()).where(
            Booking.point_id == pid).group_by(Booking.status))).all())
        assert by_status == {"confirmed": 20, "waitlisted": 80}
        first_waiting = (await session.execute(select(Booking.order_id).where(
            Booking.status == "waitlisted").order_by(Booking.id).limit(1))).scalar_one()

    released = await client.post(f"/internal/bookings/{held[0].json()['order_id']}/release", headers=SERVICE_KEY)
    assert released.status_code == 200
    promoted = await outbox_events(db, "booking.promoted")
    assert [e["order_id"] for e in promoted] == [first_waiting]
    again = await client.post("/internal/bookings", json={"order_id": first_waiting, "point_id": pid, "cycle_id": 77},
                              headers=SERVICE_KEY)
    assert again.status_code == 201 and again.json()["status"] == "confirmed"
    avail = (await client.get(f"/points/{pid}/availability", params={"cycle_id": 77})).json()
    assert avail["booked"] == 20 and avail["slots_left"] == 0 and avail["waitlisted"] == 79


async def test_concurrent_releases_and_bookings_never_overfill(live_delivery, keys):
    client, db = live_delivery
    point = await create_point(client, keys, max_orders_per_cycle=5)
    pid = point["id"]
    for n in range(5):
        assert (await client.post("/internal/bookings", json={"order_id": f"o-{n}", "point_id": pid, "cycle_id": 1},
                                  headers=SERVICE_KEY)).status_code == 201
    calls = [client.post(f"/internal/bookings/o-{n}/release", headers=SERVICE_KEY) for n in range(5)]
    calls += [client.post("/internal/bookings", json={"order_id": f"n-{n}", "point_id": pid, "cycle_id": 1},
                          headers=SERVICE_KEY) for n in range(30)]
    await asyncio.gather(*calls)
    async with db.session() as session:
        row = await session.get(PointCapacity, (pid, 1))
        holding = (await session.execute(select(func.count()).select_from(Booking).where(
            Booking.point_id == pid, Booking.status.in_(("held", "confirmed"))))).scalar_one()
    assert row.booked == holding == 5
