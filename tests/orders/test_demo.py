"""The demo loader gives an open cycle and a consolidated one with orders, and is idempotent."""

from sqlalchemy import func, select

from infra.demo_world import build_world
from services.orders.consolidation import build_consolidation
from services.orders.demo import load_demo
from services.orders.models import cycles, kernel, orders
from tests.conftest import transactional_database


async def test_demo_loads_open_and_consolidated_cycles_once(migrated, backend):
    world = build_world()
    async with transactional_database(migrated.url("orders", backend)) as db:
        await load_demo(db, world)
        await load_demo(db, world)
        async with db.session() as s:
            statuses = dict((await s.execute(select(cycles.c.status, cycles.c.id))).all())
            assert set(statuses) == {"open", "consolidated"}
            assert (await s.execute(select(func.count()).select_from(orders))).scalar_one() == 40
            events = (await s.execute(select(func.count()).select_from(kernel.outbox)
                                      .where(kernel.outbox.c.event_type == "cycle.closed"))).scalar_one()
            assert events == 1
            doc = await build_consolidation(session=s, cycle_id=statuses["consolidated"])
        assert doc["totals"]["orders"] == 40 and doc["producers"]


async def test_demo_loader_refuses_a_world_whose_cycle_delivers_when_its_points_are_closed(migrated, backend):
    from dataclasses import replace
    from datetime import timedelta

    import pytest

    from services.common.errors import InvalidInput

    world = build_world()
    opened = world.calendar.open_cycle
    world.calendar = replace(world.calendar, open_cycle=replace(
        opened, delivery_date=opened.delivery_date + timedelta(days=1)))  # a Sunday: most points closed
    async with transactional_database(migrated.url("orders", backend)) as db:
        with pytest.raises(InvalidInput) as refused:
            await load_demo(db, world)
        assert refused.value.code == "point_closed_on_delivery_day"
        async with db.session() as s:
            assert (await s.execute(select(func.count()).select_from(cycles))).scalar_one() == 0
