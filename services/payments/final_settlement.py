"""A cycle's final settlement: what each producer is finally paid, posted once.

Each producer with goods accepted in the cycle gets one payable:

    payable = sales − fees − advance repayment − organization share

1. *Sales − fees* is what her receipts put on her `producer` account for the cycle, and *advance
   repayment* what consumers' payments already repaid to her financier from it (entries of the cycle
   on that account); the principal and fee of her advances on the cycle's receivables still unpaid
   stay on the account too, for the repayment still to come.
2. The *organization share* is the rate in force of her organization (services.payments.shares) on
   her accepted sales, rounded half-up once; it never takes more than is left.
3. One entry per producer (client id `settlement:{cycle}:producer:{id}`): debit `producer` (share +
   payable), credit `organization` (share) and `producer_payable` (payable). From then on payouts
   draw on the payable (services.payments.payouts).

Made once per cycle by its coordinator (or an admin): a repeat answers the settlement already made
and changes nothing. Refused while an advance on the cycle's receivables waits for a decision (its
disbursal would change what is payable); once settled, no new advance is drawn on the cycle.
"""

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import Conflict, NotFound
from services.common.money import percent_of
from services.common.tables import insert_ignoring_conflict, utcnow
from services.payments.ledger import AccountKind, Posting, account_code, ensure_account, post_entry
from services.payments.models import (
    accounts,
    advances,
    cycle_settlements,
    cycles,
    entries,
    payables,
    postings,
    producer_profiles,
    receivables,
)
from services.payments.shares import NO_SHARE, share_in_force

UNDECIDED = ("requested", "approved")
LIVE = ("disbursed", "producer_debt")


async def settle_cycle(*, session: AsyncSession, cycle_id: int, settled_by: int | None) -> dict:
    """Make the cycle's settlement final (once); returns it with its payables."""
    cycle = (await session.execute(select(cycles).where(cycles.c.cycle_id == cycle_id))).one_or_none()
    if cycle is None:
        raise NotFound(f"el ciclo {cycle_id} no es conocido en pagos", code="cycle_not_found")
    claimed = await session.execute(insert_ignoring_conflict(session, cycle_settlements).values(
        cycle_id=cycle_id, settled_at=utcnow(), settled_by=settled_by).returning(cycle_settlements.c.cycle_id))
    if claimed.scalar_one_or_none() is None:  # already final (or being made by a concurrent request)
        return await settlement(session=session, cycle_id=cycle_id)
    rows = (await session.execute(select(receivables).where(receivables.c.cycle_id == cycle_id)
                                  .order_by(receivables.c.producer_id, receivables.c.id))).all()
    if not rows:
        raise Conflict(f"el ciclo {cycle_id} no tiene entregas recibidas que liquidar", code="nothing_to_settle")
    advance_ids = sorted({r.advance_id for r in rows if r.advance_id is not None})
    advs = (await session.execute(select(advances).where(advances.c.id.in_(advance_ids)))).all() if advance_ids else []
    waiting = [a.id for a in advs if a.status in UNDECIDED]
    if waiting:
        raise Conflict("hay adelantos de pronto pago sin decidir sobre este ciclo; el financiador debe decidirlos antes",
                       code="advance_pending", details={"advance_ids": waiting})
    by_producer: dict[int, list] = {}
    for r in rows:
        by_producer.setdefault(r.producer_id, []).append(r)
    for producer_id, mine in by_producer.items():
        owed = sum(a.principal + a.fee - a.principal_repaid - a.fee_repaid for a in advs
                   if a.status in LIVE and a.producer_id == producer_id)
        await _settle_producer(session=session, cycle_id=cycle_id, producer_id=producer_id, receipts=mine,
                               still_owed_on_advances=owed)
    return await settlement(session=session, cycle_id=cycle_id)


async def _settle_producer(*, session: AsyncSession, cycle_id: int, producer_id: int, receipts: list,
                           still_owed_on_advances: int) -> None:
    sales = sum(r.accepted_value for r in receipts)
    fees = sum(r.fees for r in receipts)
    producer_account = await ensure_account(session=session, kind=AccountKind.producer, owner_id=producer_id)
    left_for_cycle = await _cycle_credit(session, producer_account, cycle_id)
    balance = -(await session.execute(select(accounts.c.balance).where(accounts.c.id == producer_account))).scalar_one()
    # what her receipts left for the cycle, less what her financier is still to be repaid from it
    available = max(0, min(left_for_cycle, balance) - still_owed_on_advances)
    organization_id = (await session.execute(select(producer_profiles.c.organization_id).where(
        producer_profiles.c.producer_id == producer_id))).scalar_one_or_none()
    if organization_id is None:
        organization_id = next((r.organization_id for r in receipts if r.organization_id is not None), None)
    share_row = await share_in_force(session=session, organization_id=organization_id)
    rate = share_row.rate if share_row is not None else NO_SHARE
    share = min(percent_of(sales, rate), available)
    amount = available - share
    lines = [Posting(producer_account, share + amount)]
    if share:
        org_account = await ensure_account(session=session, kind=AccountKind.organization, owner_id=organization_id,
                                           name=f"Organización {organization_id}")
        lines.append(Posting(org_account, -share))
    if amount:
        lines.append(Posting(await ensure_account(session=session, kind=AccountKind.producer_payable,
                                                  owner_id=producer_id, name=f"Por pagar a productora {producer_id}"),
                             -amount))
    entry_id = None
    if share + amount:
        posted = await post_entry(session=session, client_id=f"settlement:{cycle_id}:producer:{producer_id}",
                                  kind="final_settlement", producer_id=producer_id, cycle_id=cycle_id,
                                  ref=f"cycle:{cycle_id}", lines=lines,
                                  description=f"Liquidación final del ciclo {cycle_id}: neto por pagar"
                                              + (f" y {rate} % a la organización {organization_id}" if share else ""))
        entry_id = posted.id
    try:
        async with session.begin_nested():
            await session.execute(payables.insert().values(
                cycle_id=cycle_id, producer_id=producer_id, organization_id=organization_id,
                collected_by_organization=bool(share_row is not None and share_row.collects_for_members),
                sales=sales, fees=fees, advance_deduction=max(0, sales - fees - left_for_cycle) + still_owed_on_advances,
                share_rate=rate, organization_share=share, amount=amount, committed=0, paid=0, entry_id=entry_id))
    except IntegrityError:  # made by a concurrent settlement of the same cycle: the first stands
        pass


async def _cycle_credit(session: AsyncSession, account_id: int, cycle_id: int) -> int:
    """What the cycle's entries left on a producer account (credit side positive)."""
    total = (await session.execute(select(func.coalesce(func.sum(postings.c.amount), 0))
                                   .join(entries, entries.c.id == postings.c.entry_id)
                                   .where(postings.c.account_id == account_id, entries.c.cycle_id == cycle_id)
                                   )).scalar_one()
    return -int(total)


async def settlement(*, session: AsyncSession, cycle_id: int) -> dict:
    row = (await session.execute(select(cycle_settlements).where(cycle_settlements.c.cycle_id == cycle_id))
           ).one_or_none()
    if row is None:
        raise NotFound(f"la liquidación final del ciclo {cycle_id} aún no se hizo", code="settlement_not_final")
    found = (await session.execute(select(payables).where(payables.c.cycle_id == cycle_id)
                                   .order_by(payables.c.producer_id))).all()
    return {"cycle_id": cycle_id, "settled_at": row.settled_at, "payables": found}


async def is_settled(*, session: AsyncSession, cycle_id: int) -> bool:
    return (await session.execute(select(cycle_settlements.c.cycle_id)
                                  .where(cycle_settlements.c.cycle_id == cycle_id))).scalar_one_or_none() is not None


def payable_account_code(producer_id: int) -> str:
    return account_code(AccountKind.producer_payable, producer_id)
