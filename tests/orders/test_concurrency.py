"""Real concurrency on PostgreSQL: many consumers racing for the last kilos never oversell."""

import asyncio
from decimal import Decimal

from sqlalchemy import func, select

from services.orders.models import orders
from tests.conftest import require_postgres
from tests.orders.conftest import platform


async def test_hundred_concurrent_orders_never_oversell(migrated, keys):
    require_postgres()
    async with platform(migrated, keys, "postgres", live=True) as p:
        papa = await p.product(name="Papa Huaycha", unit="arroba", available="50")
        haba = await p.product(name="Haba verde", unit="libra", available="1000")
        point = await p.point(capacity=1000)
        cycle = await p.open_cycle(points=[point])

        async def one(consumer):
            return await p.order(consumer=consumer, cycle=cycle["id"], point=point, key=f"race-{consumer}",
                                 lines=[{"product_id": haba, "quantity": "1"}, {"product_id": papa, "quantity": "1"}])

        answers = await asyncio.gather(*[one(c) for c in range(1, 101)])
        codes = [r.status_code for r in answers]
        assert codes.count(201) == 50, [r.text for r in answers if r.status_code not in (201, 409)][:3]
        assert all(r.json()["error"]["code"] == "stock_insufficient" for r in answers if r.status_code == 409)
        assert await p.stock(papa) == (Decimal("0.000"), Decimal("50.000"), Decimal("0.000"))
        # the losers' haba came back: only the 50 placed orders hold any
        assert await p.stock(haba) == (Decimal("950.000"), Decimal("50.000"), Decimal("0.000"))
        assert await p.holding_bookings() == 50
        async with p.orders_db.session() as s:
            placed = (await s.execute(select(func.count()).where(orders.c.status == "placed"))).scalar_one()
        assert placed == 50


async def test_one_phone_sending_the_same_order_eight_times_at_once_places_it_once(migrated, keys):
    """A phone on a bad connection fires its queued order again and again with its Idempotency-Key: one
    order is placed; every answer is that order or "still being placed, retry" (409)."""
    require_postgres()
    async with platform(migrated, keys, "postgres", live=True) as p:
        papa = await p.product(name="Papa Huaycha", unit="arroba", available="50")
        point = await p.point(capacity=100)
        cycle = await p.open_cycle(points=[point])
        answers = await asyncio.gather(*[p.order(consumer=7, cycle=cycle["id"], point=point, key="phone-queue-1",
                                                 lines=[{"product_id": papa, "quantity": "2"}]) for _ in range(8)])
        placed = {r.json()["id"] for r in answers if r.status_code == 201}
        assert len(placed) == 1, [r.text for r in answers]
        assert all(r.json()["error"]["code"] == "idempotency_in_progress" for r in answers if r.status_code != 201)
        again = await p.order(consumer=7, cycle=cycle["id"], point=point, key="phone-queue-1",
                              lines=[{"product_id": papa, "quantity": "2"}])
        assert again.status_code == 201 and again.json()["id"] in placed
        assert await p.stock(papa) == (Decimal("48.000"), Decimal("2.000"), Decimal("0.000"))
        async with p.orders_db.session() as s:
            assert (await s.execute(select(func.count()).select_from(orders))).scalar_one() == 1


async def test_running_service_compensates_abandoned_placement_and_closes_due_cycle(migrated, keys):
    """The lifespan's background duties: a placement abandoned mid-way is undone, a due cycle closes."""
    from datetime import timedelta

    from sqlalchemy import insert

    from services.common.tables import utcnow
    from services.orders.models import cycles
    from services.orders.placement import line_ids_of

    require_postgres()
    async with platform(migrated, keys, "postgres", live=True, background_enabled=True, duties_interval_seconds=0.2,
                        pending_timeout_seconds=0.5) as p:
        papa = await p.product(available="10")
        point = await p.point()
        cycle = await p.open_cycle(points=[point])
        async with p.orders_db.session() as s:
            now = utcnow()
            order_id = (await s.execute(insert(orders).values(
                cycle_id=cycle["id"], consumer_account_id=5, delivery_point_id=point, status="pending",
                request_hash="x", request={}, line_count=1, fees=[], created_at=now, updated_at=now)
                .returning(orders.c.id))).scalar_one()
            due = (await s.execute(insert(cycles).values(
                name="Vencido", coordinator_account_id=900, status="open", opens_at=now - timedelta(days=2),
                closes_at=now - timedelta(seconds=1), delivery_date=now.date(), point_ids=[point], point_capacity={},
                product_ids=None, fee_rules=[], created_at=now).returning(cycles.c.id))).scalar_one()
        clients = p.orders_app.state.clients
        await clients["catalog"].call("POST", "/internal/reservations", json={
            "order_id": str(order_id), "lines": [{"line_id": line_ids_of(order_id, 1)[0], "product_id": papa,
                                                  "quantity": "4"}]})
        await clients["delivery"].call("POST", "/internal/bookings", json={
            "order_id": str(order_id), "point_id": point, "cycle_id": cycle["id"]})
        for _ in range(100):
            await asyncio.sleep(0.1)
            async with p.orders_db.session() as s:
                released = (await s.execute(select(orders.c.released_at).where(orders.c.id == order_id))).scalar_one()
                status = (await s.execute(select(cycles.c.status).where(cycles.c.id == due))).scalar_one()
            if released is not None and status == "consolidated":
                break
        assert released is not None and status == "consolidated"
        assert await p.stock(papa) == (Decimal("10.000"), Decimal("0.000"), Decimal("0.000"))
        assert await p.holding_bookings() == 0
