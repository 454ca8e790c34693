"""Payments benchmark on PostgreSQL: ledger throughput and the financier portfolio report.

- journal entries/s under concurrency: each entry is a full `post_entry` unit of work (entry insert,
  conditional balance UPDATEs in account order, postings insert, commit) run by concurrent workers;
  "hot" entries all touch the cash clearing account (every worker waits on the same row lock, as
  cash payments do), "spread" entries move money between 1,000 consumer accounts;
- the time to produce a financier's portfolio (totals, by producer, by municipality, women's share)
  once its ledger holds 100k journal entries (50k advances disbursed, 50k repayments).

Uses PAYMENTS_DATABASE_URL when it names a PostgreSQL database (a throwaway one: rows are written
into it), else creates a temporary database on the server of BENCH_POSTGRES_URL or TEST_POSTGRES_URL
(default 127.0.0.1) and drops it afterwards.
"""

import asyncio
import os
import random
import statistics
import time
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import insert, select, update

from bench._support import service_database
from services.common.db import Database, make_engine
from services.common.tables import utcnow
from services.payments.advances import create_policy, open_fund, register_financier
from services.payments.ledger import AccountKind, Posting, ensure_account, post_entry
from services.payments.models import accounts, advances, entries, funds, postings, producer_profiles
from services.payments.reports import financier_portfolio

WORKERS = int(os.environ.get("BENCH_WORKERS", "16"))
ENTRIES = int(os.environ.get("BENCH_ENTRIES", "4000"))
PORTFOLIO_ENTRIES = int(os.environ.get("BENCH_PORTFOLIO_ENTRIES", "100000"))
MUNICIPALITIES = ("020101", "020105", "020104", "030101", "070101", "080201")


async def _entry_throughput(db: Database, label: str, pick) -> float:
    queue = list(range(ENTRIES))
    tag = time.time_ns()

    async def worker():
        while queue:
            i = queue.pop()
            debit, credit = pick(i)
            async with db.session() as s:
                await post_entry(session=s, client_id=f"bench:{tag}:{i}", kind="bench", description="bench",
                                 lines=[Posting(debit, 100 + i % 50), Posting(credit, -(100 + i % 50))])

    started = time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(WORKERS)])
    rate = ENTRIES / (time.perf_counter() - started)
    print(f"  journal entries/s, {label:28s} {rate:8.0f}  ({ENTRIES} entries, {WORKERS} workers)")
    return rate


async def _portfolio_world(db: Database) -> int:
    """A financier whose ledger holds PORTFOLIO_ENTRIES entries: half disbursals, half repayments."""
    async with db.session() as s:
        await register_financier(session=s, financier_id=900, name="Banco de bench", kind="development_bank")
        fund = await open_fund(session=s, financier_id=900, name="Fideicomiso bench", cap=10**13)
        policy = await create_policy(session=s, financier_id=900, fund_id=fund.id, name="bench",
                                     advance_rate=Decimal("0.8"), fee_kind="percent", fee_value=Decimal("2"),
                                     min_amount=100, max_amount=10**9, producer_limit=10**12, auto_approve_up_to=None)
        producers = 2000
        await s.execute(insert(producer_profiles), [
            {"producer_id": 10_000 + p, "name": f"Productora {p}", "gender": "female" if p % 5 < 2 else "male",
             "municipality_code": MUNICIPALITIES[p % len(MUNICIPALITIES)], "updated_at": utcnow()}
            for p in range(producers)])
        debt = {p: await ensure_account(session=s, kind=AccountKind.producer_advances, owner_id=10_000 + p)
                for p in range(producers)}
        producer_acc = {p: await ensure_account(session=s, kind=AccountKind.producer, owner_id=10_000 + p)
                        for p in range(producers)}
        fees = await ensure_account(session=s, kind=AccountKind.financier_fees, owner_id=900)
        clearing = await ensure_account(session=s, kind=AccountKind.bank_clearing)
    n = PORTFOLIO_ENTRIES // 2
    rng = random.Random(7)
    now = utcnow()
    balances: dict[int, int] = {}
    outstanding = 0
    for start in range(0, n, 5000):
        adv_rows, entry_rows, post_rows = [], [], []
        for i in range(start, min(n, start + 5000)):
            p = i % producers
            principal = rng.randint(10_000, 500_000)
            fee = principal // 50
            repaid = principal if rng.random() < 0.7 else rng.randint(0, principal)
            fee_repaid = fee if repaid == principal else 0
            status = "repaid" if repaid == principal else ("producer_debt" if rng.random() < 0.1 else "disbursed")
            outstanding += principal - repaid
            adv_rows.append({"producer_id": 10_000 + p, "financier_id": 900, "fund_id": fund.id, "policy_id": policy.id,
                             "status": status, "eligible_value": principal * 2, "principal": principal, "fee": fee,
                             "principal_repaid": repaid, "fee_repaid": fee_repaid,
                             "expected_collection_on": date.today() + timedelta(days=14), "auto_approved": True,
                             "receivable_ids": [], "requested_at": now, "disbursed_at": now})
            for kind, moves in (
                ("advance_disbursal", [(debt[p], principal + fee), (fund.account_id, -principal), (fees, -fee)]),
                ("advance_repayment", [(producer_acc[p], repaid + fee_repaid), (debt[p], -(repaid + fee_repaid)),
                                       (fund.account_id, repaid + fee_repaid), (clearing, -(repaid + fee_repaid))]),
            ):
                entry_rows.append({"client_id": f"bench:{kind}:{i}", "kind": kind, "description": kind,
                                   "currency": "BOB", "producer_id": 10_000 + p, "financier_id": 900,
                                   "ref": f"advance:{i}", "created_at": now})
                post_rows.append(moves)
        async with db.session() as s:
            await s.execute(insert(advances), adv_rows)
            ids = (await s.execute(insert(entries).returning(entries.c.id, sort_by_parameter_order=True),
                                   entry_rows)).scalars().all()
            flat = []
            for entry_id, moves in zip(ids, post_rows, strict=True):
                for account_id, amount in moves:
                    if amount:
                        flat.append({"entry_id": entry_id, "account_id": account_id, "amount": amount})
                        balances[account_id] = balances.get(account_id, 0) + amount
            await s.execute(insert(postings), flat)
    async with db.session() as s:  # stored balances follow the postings, as post_entry keeps them
        for account_id, delta in sorted(balances.items()):
            await s.execute(update(accounts).where(accounts.c.id == account_id)
                            .values(balance=accounts.c.balance + delta))
        await s.execute(update(funds).where(funds.c.id == fund.id).values(outstanding_principal=outstanding))
    return n


async def _portfolio_time(db: Database) -> float:
    timings = []
    for _ in range(7):
        started = time.perf_counter()
        async with db.session() as s:
            report = await financier_portfolio(session=s, financier_id=900)
        timings.append((time.perf_counter() - started) * 1000)
    median = statistics.median(timings)
    async with db.session() as s:
        count = (await s.execute(select(entries.c.id).where(entries.c.financier_id == 900)
                                 .order_by(entries.c.id.desc()).limit(1))).scalar_one()
    print(f"  financier portfolio with {PORTFOLIO_ENTRIES:,} entries ({len(report['by_producer'])} producers, "
          f"{report['totals']['advances']} advances): median {median:.0f} ms, best {min(timings):.0f} ms "
          f"(last entry id {count})")
    return median


async def run(url: str) -> dict:
    db = Database(make_engine(url, pool_size=WORKERS))
    figures = {}
    try:
        async with db.session() as s:
            clearing = await ensure_account(session=s, kind=AccountKind.cash_clearing)
            consumers = [await ensure_account(session=s, kind=AccountKind.consumer, owner_id=100_000 + i)
                         for i in range(1000)]
        figures["hot"] = await _entry_throughput(db, "hot (one clearing account)",
                                                 lambda i: (clearing, consumers[i % 1000]))
        figures["spread"] = await _entry_throughput(
            db, "spread (1,000 accounts)", lambda i: (consumers[i % 1000], consumers[(i * 7 + 1) % 1000]))
        started = time.perf_counter()
        await _portfolio_world(db)
        print(f"  (portfolio world written in {time.perf_counter() - started:.0f} s)")
        figures["portfolio_ms"] = await _portfolio_time(db)
    finally:
        await db.dispose()
    return figures


def main() -> None:
    with service_database("payments") as url:
        asyncio.run(run(url))


if __name__ == "__main__":
    main()
