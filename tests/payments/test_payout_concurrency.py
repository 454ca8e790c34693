"""On PostgreSQL, with real commits: payout batches made at the same time for one cycle never pay a
producer twice, and two final settlements at once settle the cycle once."""

import asyncio

from sqlalchemy import func, select

from services.payments.models import entries, payables, payout_lines
from tests.conftest import live_database, require_postgres
from tests.payments import payout_world as w
from tests.payments.conftest import payments_client
from tests.payments.helpers import balance_of, ledger_is_consistent

EVERYONE = [{"producer_id": w.ROSA, "method": "bank_transfer", "bank": "Banco Unión", "account_number": "1-234567"},
            {"organization_id": w.ORGANIZATION, "method": "bank_transfer", "bank": "BancoSol",
             "account_number": "99887766"},
            {"producer_id": w.ELENA, "method": "mobile_wallet", "wallet_number": "71234567"}]


async def test_batches_made_at_the_same_time_never_pay_a_producer_twice(migrated, keys):
    require_postgres()
    url = migrated.url("payments", "postgres")
    async with live_database(url, "payments", pool_size=6) as db:
        await w.build(db)
        async with payments_client(db, keys, url) as client:
            coordinator = keys.headers("coordinator", account_id=w.COORDINATOR)
            settled = await asyncio.gather(*[client.post("/cycles/30/settlement/final", headers=coordinator)
                                             for _ in range(4)])
            assert [r.status_code for r in settled] == [200] * 4, [r.text for r in settled]
            async with db.session() as s:
                settlements = (await s.execute(select(func.count()).select_from(entries)
                                               .where(entries.c.kind == "final_settlement"))).scalar_one()
            assert settlements == 3  # one per producer, however many asked at once

            # two batches for everyone, and eight for 60.00 of Rosa's 98.00, all at once
            answers = await asyncio.gather(*[
                client.post("/payout-batches", headers=coordinator, json={"cycle_id": 30, "lines": EVERYONE})
                for _ in range(2)], *[
                client.post("/payout-batches", headers=coordinator, json={"cycle_id": 30, "lines": [
                    {"producer_id": w.ROSA, "amount": "60.00", "method": "cash"}]}) for _ in range(8)])
        codes = [r.status_code for r in answers]
        assert set(codes) <= {201, 409}, [r.text for r in answers if r.status_code not in (201, 409)]
        assert codes.count(201) == 1, codes  # whoever came first took Rosa's payable; nobody pays her again
        assert {r.json()["error"]["code"] for r in answers if r.status_code == 409} == {"payout_exceeds_payable"}
        async with db.session() as s:
            for row in (await s.execute(select(payables))).all():
                assert row.committed <= row.amount
                lines = (await s.execute(select(func.coalesce(func.sum(payout_lines.c.amount), 0)).where(
                    payout_lines.c.status == "pending", payout_lines.c.payee_kind == "producer",
                    payout_lines.c.payee_id == row.producer_id))).scalar_one()
                if not row.collected_by_organization:
                    assert lines == row.committed
        assert await balance_of(db, f"producer_payable:{w.ROSA}") in (0, 9800 - 6000)
        await ledger_is_consistent(db)
