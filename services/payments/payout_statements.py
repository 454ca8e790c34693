"""What statements show of final settlements and payouts: the producer's settlement and each payout
that paid her (directly or through her organization), and an organization's statement per cycle
(its share of each member's sales and the payouts it received, split per member)."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.money import from_centavos
from services.payments.ledger import AccountKind, account_code
from services.payments.models import accounts, cycle_settlements, payables, payout_lines, payout_parts
from services.payments.shares import share_history


def _bs(centavos: int) -> str:
    return str(from_centavos(int(centavos)))


def _line(line, amount: int) -> dict:
    return {"payout_id": line.id, "batch_id": line.batch_id, "method": line.method, "status": line.status,
            "amount": _bs(amount), "paid_to": line.payee_kind, "paid_to_id": line.payee_id,
            "reference": line.reference, "received_by": line.received_by, "failure_reason": line.failure_reason,
            "at": (line.settled_at or line.created_at).isoformat()}


async def producer_payouts(*, session: AsyncSession, producer_id: int, cycle_id: int) -> dict:
    """The `settlement` and `payouts` sections of a producer's statement for a cycle."""
    payable = (await session.execute(select(payables).where(payables.c.cycle_id == cycle_id,
                                                            payables.c.producer_id == producer_id))).one_or_none()
    if payable is None:
        return {"settlement": None, "payouts": []}
    rows = (await session.execute(select(payout_lines, payout_parts.c.amount.label("part"))
                                  .join(payout_parts, payout_parts.c.line_id == payout_lines.c.id)
                                  .where(payout_parts.c.payable_id == payable.id).order_by(payout_lines.c.id))).all()
    return {
        "settlement": {"final": True, "sales": _bs(payable.sales), "fees": _bs(payable.fees),
                       "advance_deduction": _bs(payable.advance_deduction),
                       "organization_id": payable.organization_id, "share_rate": str(payable.share_rate),
                       "organization_share": _bs(payable.organization_share), "payable": _bs(payable.amount),
                       "paid_out": _bs(payable.paid), "in_transit": _bs(payable.committed - payable.paid),
                       "left_to_pay": _bs(payable.amount - payable.paid),
                       "collected_by_organization": payable.collected_by_organization},
        "payouts": [_line(r, r.part) for r in rows],
    }


async def organization_statement(*, session: AsyncSession, organization_id: int, cycle_id: int | None) -> dict:
    """An organization's shares and the payouts it received (per member), for one cycle or all."""
    query = select(payables).where(payables.c.organization_id == organization_id)
    if cycle_id is not None:
        query = query.where(payables.c.cycle_id == cycle_id)
    members = (await session.execute(query.order_by(payables.c.cycle_id, payables.c.producer_id))).all()
    lines_query = select(payout_lines).where(payout_lines.c.payee_kind == "organization",
                                             payout_lines.c.payee_id == organization_id)
    if cycle_id is not None:
        lines_query = lines_query.where(payout_lines.c.cycle_id == cycle_id)
    lines = (await session.execute(lines_query.order_by(payout_lines.c.id))).all()
    parts = (await session.execute(select(payout_parts).where(payout_parts.c.line_id.in_([ln.id for ln in lines]))
                                   .order_by(payout_parts.c.line_id, payout_parts.c.producer_id))).all() if lines else []
    split: dict[int, list] = {}
    for p in parts:
        split.setdefault(p.line_id, []).append({"producer_id": p.producer_id, "amount": _bs(p.amount)})
    balance = (await session.execute(select(accounts.c.balance).where(
        accounts.c.code == account_code(AccountKind.organization, organization_id)))).scalar_one_or_none()
    settled = {r.cycle_id for r in (await session.execute(select(cycle_settlements.c.cycle_id))).all()} \
        if members else set()
    return {
        "organization_id": organization_id, "cycle_id": cycle_id, "currency": "BOB",
        "rates": [{"rate": str(r.rate), "collects_for_members": r.collects_for_members,
                   "valid_from": r.valid_from.isoformat(), "valid_to": r.valid_to and r.valid_to.isoformat()}
                  for r in await share_history(session=session, organization_id=organization_id)],
        "members": [{"cycle_id": m.cycle_id, "producer_id": m.producer_id, "final": m.cycle_id in settled,
                     "sales": _bs(m.sales), "share_rate": str(m.share_rate), "organization_share": _bs(m.organization_share),
                     "payable": _bs(m.amount), "paid_out": _bs(m.paid),
                     "collected_by_organization": m.collected_by_organization} for m in members],
        "payouts_received": [{**_line(ln, ln.amount), "split": split.get(ln.id, [])} for ln in lines],
        "totals": {"organization_share": _bs(sum(m.organization_share for m in members)),
                   "received_for_members": _bs(sum(ln.amount for ln in lines if ln.status == "paid")),
                   "account_balance": _bs(-(balance or 0))},
    }
