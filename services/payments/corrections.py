"""Corrected receipts: delivery's coordinator put a receipt right; the receivable follows, openly.

1. Delivery holds the receivable first (`POST /internal/receivables/hold`, with the id of the
   correction it is about to commit): refused (409) once an
   advance was drawn on it (requested, approved or disbursed: the financier's money rests on the old
   value; a pending advance can be rejected by its financier, and then the receipt corrected) or once
   it is settled (collected in full, or declared uncollectible). A held receivable backs no advance.
2. `consignment.corrected` then reverses the receipt's ledger entry (a mirror entry, never an edit),
   posts the corrected receipt as a new entry, re-matches the order lines and rewrites the
   receivable. Applied once per correction id. The hold is released only when no newer correction
   was announced meanwhile (two corrections in quick succession leave no gap for an advance).
"""

import logging

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import Conflict
from services.payments.final_settlement import is_settled
from services.payments.ledger import reverse_entry
from services.payments.models import advances, entries, order_lines, receivables
from services.payments.settlement import closed_cycle, link_order_lines, post_receipt

log = logging.getLogger("mercado.payments")


async def _receivable_of(session: AsyncSession, consignment_id: int, *, lock: bool = False):
    query = select(receivables).where(receivables.c.consignment_id == consignment_id)
    if lock and session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    return (await session.execute(query)).one_or_none()


async def hold_for_correction(*, session: AsyncSession, consignment_id: int, correction_id: int):
    """Keep the receivable out of advances while correction `correction_id` of its receipt is on its
    way; 409 when too late. Idempotent."""
    row = await _receivable_of(session, consignment_id, lock=True)
    if row is None:
        raise Conflict(f"payments has not recorded the receipt of consignment {consignment_id} yet; "
                       "correct it again in a minute", code="receivable_not_recorded",
                       details={"consignment_id": consignment_id})
    await _refuse_if_advanced(session, row)
    if await is_settled(session=session, cycle_id=row.cycle_id):  # its payable is fixed, maybe paid out
        raise Conflict(f"cycle {row.cycle_id}'s settlement is final; the receipt of consignment {consignment_id} "
                       "can no longer be corrected", code="receivable_settled",
                       details={"consignment_id": consignment_id, "status": "final_settlement"})
    if row.status != "open":
        raise Conflict(f"the producer's receivable for consignment {consignment_id} is {row.status}; "
                       "its receipt can no longer be corrected", code="receivable_settled",
                       details={"consignment_id": consignment_id, "status": row.status})
    held = await session.execute(update(receivables).where(
        receivables.c.id == row.id, receivables.c.advance_id.is_(None), receivables.c.status == "open")
        .values(held_for_correction=max(row.held_for_correction or 0, correction_id)))
    if held.rowcount != 1:  # an advance claimed it in between
        await _refuse_if_advanced(session, await _receivable_of(session, consignment_id))
        raise Conflict("the receivable changed while it was being held; try again", code="receivable_changed")
    return await _receivable_of(session, consignment_id)


async def _refuse_if_advanced(session: AsyncSession, row) -> None:
    if row.advance_id is None:
        return
    status = (await session.execute(select(advances.c.status).where(advances.c.id == row.advance_id))).scalar_one()
    if status in ("requested", "approved"):
        hint = "its financier can reject the pending advance; then correct the receipt"
    else:
        hint = "the difference must be settled with the financier, not by correcting the receipt"
    raise Conflict(f"advance {row.advance_id} ({status}) was drawn on the producer's receivable for consignment "
                   f"{row.consignment_id}; {hint}", code="receivable_advanced",
                   details={"consignment_id": row.consignment_id, "advance_id": row.advance_id,
                            "advance_status": status})


async def on_consignment_corrected(session: AsyncSession, envelope) -> None:
    await apply_correction(session=session, payload=envelope.payload)


async def apply_correction(*, session: AsyncSession, payload: dict) -> None:
    """Reverse the receipt's entry and post the corrected one; the receivable follows."""
    consignment_id, correction_id = int(payload["consignment_id"]), int(payload["correction_id"])
    client_id = f"consignment:{consignment_id}:correction:{correction_id}"
    if (await session.execute(select(entries.c.id).where(entries.c.client_id == client_id))).first():
        return  # applied already
    row = await _receivable_of(session, consignment_id, lock=True)
    if row is None:  # its consignment.delivered has not been applied yet: try again later
        raise Conflict(f"no receivable for consignment {consignment_id} yet", code="receivable_not_recorded")
    if row.advance_id is not None or row.status != "open":
        # the hold prevents this; if it happens anyway the old value stands and someone must look
        log.error("receipt correction not applied: the receivable is advanced or settled",
                  extra={"consignment_id": consignment_id, "correction_id": correction_id,
                         "advance_id": row.advance_id, "status": row.status})
        return
    cycle = await closed_cycle(session=session, cycle_id=row.cycle_id)
    await reverse_entry(session=session, entry_id=row.entry_id, client_id=f"{client_id}:reversal",
                        reason=f"recepción corregida ({payload.get('reason') or 'sin motivo'})")
    await session.execute(update(order_lines).where(order_lines.c.receivable_id == row.id)
                          .values(accepted_value=None, receivable_id=None))
    receipt = await post_receipt(session=session, payload=payload, cycle=cycle, client_id=client_id,
                                 description=f"Entrega {consignment_id} corregida: valor aceptado menos comisiones")
    await session.execute(update(receivables).where(receivables.c.id == row.id).values(
        accepted_value=receipt.accepted_value, fees=receipt.fees, amount=receipt.accepted_value - receipt.fees,
        lines=receipt.lines, fee_lines=receipt.fee_lines, entry_id=receipt.entry_id, collected=0,
        held_for_correction=None if (row.held_for_correction or 0) <= correction_id else row.held_for_correction))
    await link_order_lines(session=session, receivable_id=row.id, shares=receipt.line_shares)
    from services.payments.collections import refresh_collected

    await refresh_collected(session=session, receivable_ids=[row.id], method=None, source="correction")
