"""Demo data of the payments service: a development bank with a trust fund for pronto pago, its
advance policy, the platform's accounts, and the producers' ledger profiles (gender and
municipality, for the reports). Loading twice changes nothing.
"""

from decimal import Decimal

from sqlalchemy import select

from services.common.tables import insert_ignoring_conflict, utcnow
from services.payments.advances import create_policy, open_fund, register_financier
from services.payments.ledger import SINGLETONS, ensure_account
from services.payments.models import advance_policies, producer_profiles

DEMO_FINANCIER_ID = 1  # the gateway's demo financier account links to this id
FUND_NAME = "Fideicomiso de pronto pago para la agricultura familiar"
POLICY_NAME = "Pronto pago a 14 días"


async def load_demo(db, world) -> None:
    async with db.session() as session:
        for kind in SINGLETONS:
            await ensure_account(session=session, kind=kind)
        await register_financier(session=session, financier_id=DEMO_FINANCIER_ID,
                                 name="Banco de Desarrollo Productivo (demo)", kind="development_bank")
        fund = await open_fund(session=session, financier_id=DEMO_FINANCIER_ID, name=FUND_NAME, cap=50_000_000)
        exists = (await session.execute(select(advance_policies.c.id).where(
            advance_policies.c.financier_id == DEMO_FINANCIER_ID, advance_policies.c.name == POLICY_NAME))).first()
        if exists is None:
            await create_policy(session=session, financier_id=DEMO_FINANCIER_ID, fund_id=fund.id, name=POLICY_NAME,
                                advance_rate=Decimal("0.80"), fee_kind="daily", fee_value=Decimal("0.05"),
                                min_amount=5_000, max_amount=1_000_000, producer_limit=1_500_000,
                                auto_approve_up_to=200_000)
    producers = list(getattr(world, "producers", []))
    for start in range(0, len(producers), 1000):
        async with db.session() as session:
            rows = [{"producer_id": p.id, "name": p.name, "gender": p.gender, "municipality_code": p.municipality_code,
                     "organization_id": p.organization_id, "updated_at": utcnow()}
                    for p in producers[start:start + 1000]]
            await session.execute(insert_ignoring_conflict(session, producer_profiles), rows)
