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
