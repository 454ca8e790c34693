"""Payments' part of the consistency audit (services/common/audit.py), read-only.

Found here: a journal entry whose postings do not add up to zero, an account whose stored balance
differs from the sum of its postings, an account that may not go negative and did. Facts for the
gateway: the payment-side orders and their status, and the producers' receivables per consignment.
"""

from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.audit import audit_router, discrepancy
from services.common.money import from_centavos
from services.payments.models import accounts, entries, orders, postings, receivables

SERVICE = "payments"


async def audit(session: AsyncSession, settings) -> tuple[list[dict], dict]:
    found = []
    for entry_id, total in (await session.execute(
            select(postings.c.entry_id, func.sum(postings.c.amount)).group_by(postings.c.entry_id)
            .having(func.sum(postings.c.amount) != 0).order_by(postings.c.entry_id))).all():
        found.append(discrepancy("ledger_balances", SERVICE,
                                 f"journal entry {entry_id}: its postings add up to {from_centavos(total)}, not 0",
                                 entry_id=entry_id))
    unposted = (await session.execute(select(entries.c.id).where(
        ~select(postings.c.id).where(postings.c.entry_id == entries.c.id).exists()).order_by(entries.c.id))).scalars()
    for entry_id in unposted:
        found.append(discrepancy("ledger_balances", SERVICE, f"journal entry {entry_id} has no postings",
                                 entry_id=entry_id))
    sums = defaultdict(int, (await session.execute(
        select(postings.c.account_id, func.sum(postings.c.amount)).group_by(postings.c.account_id))).all())
    for account in (await session.execute(select(accounts).order_by(accounts.c.id))).all():
        posted = int(sums[account.id])
        if account.balance != posted:
            found.append(discrepancy("ledger_balances", SERVICE,
                                     f"account {account.code}: balance {from_centavos(account.balance)} but its "
                                     f"postings add up to {from_centavos(posted)}", account_id=account.id))
        owed = posted if account.normal_side == "debit" else -posted
        if owed < 0 and not account.may_go_negative:
            found.append(discrepancy("ledger_balances", SERVICE,
                                     f"account {account.code} may not go negative and is at {from_centavos(owed)}",
                                     account_id=account.id))
    order_rows = (await session.execute(select(orders.c.order_id, orders.c.status))).all()
    owed = (await session.execute(select(receivables.c.id, receivables.c.consignment_id, receivables.c.producer_id,
                                         receivables.c.accepted_value).order_by(receivables.c.id))).all()
    return found, {"orders": {str(r.order_id): r.status for r in order_rows},
                   "receivables": [{"id": r.id, "consignment_id": r.consignment_id, "producer_id": r.producer_id,
                                    "accepted_value": r.accepted_value} for r in owed]}


router = audit_router(SERVICE, audit)
