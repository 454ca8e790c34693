"""Receipt corrections in payments: held, applied once, and never a gap for an advance between two
corrections of the same receipt."""

from decimal import Decimal

from sqlalchemy import select

from services.common.errors import Conflict
from services.payments import advances as pronto
from services.payments.corrections import hold_for_correction
from services.payments.models import receivables
from tests.payments.helpers import (
    accept_terms_in,
    apply,
    close_cycle,
    deliver,
    ledger_is_consistent,
    place_order,
)


async def delivered(db) -> None:
    await close_cycle(db, 3)
    await place_order(db, 30, 3, consumer=9, lines=[("30-1", 4, 40, "10", "10.00")])
    await deliver(db, 300, 3, producer=4, lines=[(40, "10", "10", "10.00")])


async def correct(db, correction_id: int, received: str) -> None:
    value = f"{Decimal(received) * 10:.2f}"
    await apply(db, "consignment.corrected", 300, {
        "consignment_id": 300, "cycle_id": 3, "producer_id": 4, "organization_id": None, "delivery_point_id": 1,
        "correction_id": correction_id, "accepted_value": value, "received_at": "2026-11-28T09:00:00Z",
        "reason": "balanza", "lines": [{"product_id": 40, "ordered_quantity": "10", "received_quantity": received,
                                        "rejected_quantity": "0", "reject_reason": None, "unit": "kg",
                                        "unit_price": "10.00", "accepted_value": value}]})


async def receivable(db):
    async with db.session() as session:
        return (await session.execute(select(receivables).where(receivables.c.consignment_id == 300))).one()


async def eligible(db) -> int:
    async with db.session() as session:
        return (await pronto.eligibility(session=session, producer_id=4))["eligible_value"]


async def test_a_quick_second_correction_keeps_the_receivable_held_until_it_lands(db):
    await delivered(db)
    async with db.session() as session:
        await hold_for_correction(session=session, consignment_id=300, correction_id=1)
        await hold_for_correction(session=session, consignment_id=300, correction_id=2)
    await correct(db, 1, "8")
    assert (await receivable(db)).accepted_value == 8000
    assert await eligible(db) == 0  # correction 2 is still on its way: no advance on the old value
    await correct(db, 2, "9")
    await correct(db, 2, "9")  # a repeat changes nothing
    row = await receivable(db)
    assert row.accepted_value == 9000 and row.held_for_correction is None
    assert await eligible(db) == 9000
    await ledger_is_consistent(db)


async def test_a_receivable_backing_an_advance_cannot_be_held(db):
    await delivered(db)
    async with db.session() as session:
        await pronto.register_financier(session=session, financier_id=1, name="Banco", kind="development_bank")
        fund = await pronto.open_fund(session=session, financier_id=1, name="Fondo", cap=100_000)
        policy = await pronto.create_policy(
            session=session, financier_id=1, fund_id=fund.id, name="p", advance_rate=Decimal("0.5"),
            fee_kind="flat", fee_value=Decimal("1.00"), min_amount=100, max_amount=50_000, producer_limit=50_000,
            auto_approve_up_to=None)
        await accept_terms_in(session, policy_id=policy.id, producer_id=4)
        advance = await pronto.request_advance(session=session, producer_id=4, policy_id=policy.id, amount=1_000,
                                               receivable_ids=None)
    async with db.session() as session:
        try:
            await hold_for_correction(session=session, consignment_id=300, correction_id=1)
        except Conflict as refused:
            assert refused.code == "receivable_advanced"
            assert refused.details["advance_status"] == "requested" and "reject" in refused.message
        else:
            raise AssertionError("a receivable backing an advance was held for correction")
    async with db.session() as session:  # the financier rejects the request: the receipt can be corrected
        await pronto.reject_advance(session=session, advance_id=advance.id, financier_id=1, reason="corregir")
        held = await hold_for_correction(session=session, consignment_id=300, correction_id=1)
    assert held.held_for_correction == 1
