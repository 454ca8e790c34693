"""The demo loader gives a financier with a fund and a policy, and loading twice changes nothing."""

from sqlalchemy import func, select

from infra.demo_world import build_world
from services.payments.demo import load_demo
from services.payments.models import advance_policies, entries, funds, producer_profiles
from tests.payments.helpers import ledger_is_consistent


async def test_demo_loads_a_financier_fund_and_policy_idempotently(db):
    world = build_world()
    await load_demo(db, world)
    await load_demo(db, world)
    async with db.session() as s:
        assert (await s.execute(select(func.count()).select_from(funds))).scalar_one() == 1
        assert (await s.execute(select(func.count()).select_from(advance_policies))).scalar_one() == 1
        assert (await s.execute(select(func.count()).select_from(entries))).scalar_one() == 1
        assert (await s.execute(select(func.count()).select_from(producer_profiles))).scalar_one() == len(world.producers)
    await ledger_is_consistent(db)
