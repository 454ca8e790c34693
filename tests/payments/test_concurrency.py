"""On PostgreSQL, with real commits: 50 concurrent advance requests on the same receivables give
exactly one advance, and 50 repeats of one Idempotency-Key give one effect."""

import asyncio
from decimal import Decimal

from sqlalchemy import func, select

from services.payments.advances import create_policy, open_fund, register_financier
from services.payments.models import advances, entries
from tests.conftest import live_database, require_postgres
from tests.payments.conftest import payments_client
from tests.payments.helpers import accept_terms_in, close_cycle, deliver, ledger_is_consistent, place_order


async def _world(db, *, auto: int | None):
    async with db.session() as s:
        await register_financier(session=s, financier_id=40, name="Banco", kind="development_bank")
        fund = await open_fund(session=s, financier_id=40, name="Fideicomiso", cap=10_000_000)
        pol = await create_policy(session=s, financier_id=40, fund_id=fund.id, name="p", advance_rate=Decimal("0.8"),
                                  fee_kind="percent", fee_value=Decimal("2"), min_amount=100, max_amount=1_000_000,
                                  producer_limit=5_000_000, auto_approve_up_to=auto)
        await accept_terms_in(s, policy_id=pol.id, producer_id=7)
    await close_cycle(db, 60)
    for i, value in enumerate(("100.00", "150.00")):
        await place_order(db, 600 + i, 60, consumer=1 + i, lines=[(f"{600 + i}-1", 7, 70 + i, "1", value)])
        await deliver(db, 6000 + i, 60, producer=7, lines=[(70 + i, "1", "1", value)])


async def _count(db, table) -> int:
    async with db.session() as s:
        return (await s.execute(select(func.count()).select_from(table))).scalar_one()


async def test_fifty_concurrent_advance_requests_on_the_same_receivables_give_one_advance(migrated, keys):
    require_postgres()
    url = migrated.url("payments", "postgres")
    async with live_database(url, "payments", pool_size=5) as db:
        await _world(db, auto=10_000_000)
        async with payments_client(db, keys, url) as client:
            mine = keys.headers("producer", producer_id=7)
            ids = [r["id"] for r in (await client.get("/producers/7/eligibility", headers=mine)).json()["receivables"]]
            answers = await asyncio.gather(*[
                client.post("/advances", json={"producer_id": 7, "receivable_ids": ids}, headers=mine)
                for _ in range(50)])
        codes = sorted(r.status_code for r in answers)
        assert codes.count(201) == 1, codes
        assert set(codes) <= {201, 409}
        assert await _count(db, advances) == 1
        async with db.session() as s:
            disbursals = (await s.execute(select(func.count()).select_from(entries)
                                          .where(entries.c.kind == "advance_disbursal"))).scalar_one()
        assert disbursals == 1
        await ledger_is_consistent(db)


async def test_fifty_repeats_of_one_idempotency_key_give_one_advance(migrated, keys):
    require_postgres()
    url = migrated.url("payments", "postgres")
    async with live_database(url, "payments", pool_size=5) as db:
        await _world(db, auto=None)
        async with payments_client(db, keys, url) as client:
            headers = {**keys.headers("producer", account_id=77, producer_id=7), "Idempotency-Key": "adelanto-1"}
            answers = await asyncio.gather(*[
                client.post("/advances", json={"producer_id": 7, "amount": "50.00"}, headers=headers)
                for _ in range(50)])
            codes = [r.status_code for r in answers]
            assert set(codes) <= {201, 409}, codes
            assert 201 in codes
            created = {r.json()["id"] for r in answers if r.status_code == 201}
            assert len(created) == 1
        assert await _count(db, advances) == 1
        await ledger_is_consistent(db)


async def test_fifty_concurrent_refunds_never_overdraw_the_cash_clearing_account(migrated):
    from services.common.errors import Conflict
    from services.payments.ledger import AccountKind, Posting, ensure_account, post_entry
    from tests.payments.helpers import balance_of

    require_postgres()
    url = migrated.url("payments", "postgres")
    async with live_database(url, "payments", pool_size=5) as db:
        async with db.session() as s:
            cash = await ensure_account(session=s, kind=AccountKind.cash_clearing)
            consumer = await ensure_account(session=s, kind=AccountKind.consumer, owner_id=1)
            await post_entry(session=s, client_id="cash-in", kind="t", description="t",
                             lines=[Posting(cash, 1000), Posting(consumer, -1000)])

        async def refund(i):
            try:
                async with db.session() as s:
                    await post_entry(session=s, client_id=f"refund-{i}", kind="t", description="t",
                                     lines=[Posting(consumer, 100), Posting(cash, -100)])
                return True
            except Conflict:
                return False

        results = await asyncio.gather(*[refund(i) for i in range(50)])
        assert sum(results) == 10
        assert await balance_of(db, "cash_clearing") == 0
        await ledger_is_consistent(db)


async def test_twenty_simultaneous_deliveries_of_one_provider_notice_record_one_payment(migrated, keys):
    import json
    import time

    from services.payments.collections import sign_webhook
    from services.payments.models import consumer_payments
    from services.payments.settings import development_webhook_secret
    from tests.payments.helpers import balance_of

    require_postgres()
    url = migrated.url("payments", "postgres")
    async with live_database(url, "payments", pool_size=5) as db:
        await close_cycle(db, 61)
        await place_order(db, 610, 61, consumer=5, lines=[("610-1", 7, 70, "2", "10.00")])
        raw = json.dumps({"event_id": "evt-race", "order_id": 610, "amount": "20.00", "method": "qr"}).encode()
        ts = str(int(time.time()))
        headers = {"X-Webhook-Timestamp": ts, "content-type": "application/json",
                   "X-Webhook-Signature": sign_webhook(secret=development_webhook_secret(), timestamp=ts, body=raw)}
        async with payments_client(db, keys, url) as client:
            answers = await asyncio.gather(*[client.post("/webhooks/payments", content=raw, headers=headers)
                                             for _ in range(20)])
        assert {r.status_code for r in answers} == {200}, [r.text for r in answers if r.status_code != 200][:2]
        assert len({r.json()["payment"]["id"] for r in answers}) == 1
        assert sum(not r.json()["replayed"] for r in answers) == 1
        assert await _count(db, consumer_payments) == 1
        assert await balance_of(db, "qr_clearing") == 2000
        await ledger_is_consistent(db)


async def test_two_coordinators_paying_the_same_order_at_once_cannot_overpay_it(migrated, keys):
    from services.payments.models import consumer_payments

    require_postgres()
    url = migrated.url("payments", "postgres")
    async with live_database(url, "payments", pool_size=5) as db:
        await close_cycle(db, 62, coordinator_account_id=5)
        await place_order(db, 620, 62, consumer=5, lines=[("620-1", 7, 70, "2", "10.00")])
        async with payments_client(db, keys, url) as client:
            h = keys.headers("coordinator", account_id=5)
            answers = await asyncio.gather(*[
                client.post("/payments", json={"order_id": 620, "amount": "20.00", "method": "cash"}, headers=h)
                for _ in range(10)])
        assert sorted(r.status_code for r in answers) == [201] + [409] * 9
        assert await _count(db, consumer_payments) == 1


async def test_entries_crossing_the_same_accounts_in_opposite_directions_never_deadlock(migrated):
    from services.payments.ledger import AccountKind, Posting, ensure_account, post_entry

    require_postgres()
    url = migrated.url("payments", "postgres")
    async with live_database(url, "payments", pool_size=5) as db:
        async with db.session() as s:
            a, b, c = [await ensure_account(session=s, kind=AccountKind.consumer, owner_id=i) for i in (1, 2, 3)]

        async def move(i):
            first, second, third = [(a, b, c), (c, b, a), (b, a, c)][i % 3]
            async with db.session() as s:  # three postings, listed in a different order each time
                await post_entry(session=s, client_id=f"cross-{i}", kind="t", description="t",
                                 lines=[Posting(first, 300), Posting(second, -200), Posting(third, -100)])

        await asyncio.gather(*[move(i) for i in range(60)])
        assert await _count(db, entries) == 60
        await ledger_is_consistent(db)


async def test_a_correction_hold_racing_advance_requests_never_leaves_a_held_receivable_advanced(migrated, keys):
    require_postgres()
    url = migrated.url("payments", "postgres")
    async with live_database(url, "payments", pool_size=5) as db:
        await _world(db, auto=10_000_000)
        service = {"X-Service-Key": "test-service-secret"}
        async with payments_client(db, keys, url) as client:
            mine = keys.headers("producer", producer_id=7)
            ids = [r["id"] for r in (await client.get("/producers/7/eligibility", headers=mine)).json()["receivables"]]
            answers = await asyncio.gather(*[
                client.post("/internal/receivables/hold", json={"consignment_id": 6000, "correction_id": 1},
                            headers=service) if n % 2 else
                client.post("/advances", json={"producer_id": 7, "receivable_ids": ids}, headers=mine)
                for n in range(20)])
        holds = [r for n, r in enumerate(answers) if n % 2]
        requests = [r for n, r in enumerate(answers) if not n % 2]
        assert {r.status_code for r in holds} <= {200, 409} and {r.status_code for r in requests} <= {201, 409}
        held_won = any(r.status_code == 200 for r in holds)
        advanced = [r for r in requests if r.status_code == 201]
        assert held_won != bool(advanced)  # exactly one side won the receivable
        assert all(r.json()["error"]["code"] == "receivable_advanced" for r in holds if r.status_code == 409)
        async with db.session() as s:
            from services.payments.models import receivables

            row = (await s.execute(select(receivables).where(receivables.c.consignment_id == 6000))).one()
        assert (row.held_for_correction is None) == (row.advance_id is not None)
        await ledger_is_consistent(db)
