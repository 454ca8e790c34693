"""Random orders, receipts, receipt corrections (applied, refused or abandoned half-way), advance
requests, decisions and consumer payments: after every step no producer can draw on goods that did
not arrive. The machine remembers what was actually received (the last receipt payments accepted)
and checks that

- every receivable's value is the value of the goods received (net of fees, never more);
- a producer's eligible value plus the principal of her advances not yet repaid never exceeds the
  value of the goods she actually delivered;
- every advance rests on receivables worth at least its principal;
- the ledger balances, entry by entry and in total.
"""

import itertools
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from services.payments import advances as pronto
from services.payments.collections import record_payment
from services.payments.corrections import hold_for_correction
from services.payments.models import advances, receivables
from services.payments.order_book import order_due
from tests.payments.helpers import (
    DatabaseMachine,
    accept_terms_in,
    apply,
    bs,
    close_cycle,
    ledger_is_consistent,
    place_order,
)

PRODUCERS = (1, 2)
CYCLE = 1
FEES = [{"kind": "admin", "basis": "percent", "value": "4", "payer": "producer"}]
SHARES = (Decimal(0), Decimal("0.5"), Decimal("0.9"), Decimal(1), Decimal("1.05"))  # delivery caps at +5 %


def value_of(quantity: Decimal, unit_price_centavos: int) -> int:
    return int((quantity * unit_price_centavos).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def receipt_payload(consignment_id: int, producer: int, product_id: int, ordered: Decimal, received: Decimal,
                    price: int) -> dict:
    value = value_of(received, price)
    return {"consignment_id": consignment_id, "cycle_id": CYCLE, "producer_id": producer, "organization_id": None,
            "delivery_point_id": 1, "accepted_value": bs(Decimal(value) / 100), "received_at": "2026-11-28T09:00:00Z",
            "lines": [{"product_id": product_id, "ordered_quantity": str(ordered), "received_quantity": str(received),
                       "rejected_quantity": "0", "reject_reason": None, "unit": "kg",
                       "unit_price": bs(Decimal(price) / 100), "accepted_value": bs(Decimal(value) / 100)}]}


class ReceivableMachine(DatabaseMachine):
    def __init__(self):
        super().__init__()
        self.orders: dict[int, tuple[int, Decimal, int]] = {}  # order id -> (producer, quantity, unit price)
        self.received: dict[int, int] = {}  # consignment id -> value of the goods payments accepted
        self.corrections = itertools.count(1)
        self.policies: list[int] = []
        self.advance_ids: list[int] = []

    @initialize(cap=st.integers(30_000, 300_000), rate=st.sampled_from((Decimal("0.7"), Decimal("0.9"), Decimal(1))))
    def financier(self, cap, rate):
        async def setup(session):
            await pronto.register_financier(session=session, financier_id=1, name="Banco", kind="development_bank")
            fund = await pronto.open_fund(session=session, financier_id=1, name="fondo", cap=cap)
            pol = await pronto.create_policy(
                session=session, financier_id=1, fund_id=fund.id, name="pronto", advance_rate=rate, fee_kind="percent",
                fee_value=Decimal("2.5"), min_amount=500, max_amount=200_000, producer_limit=250_000,
                auto_approve_up_to=40_000)
            return [pol.id]

        self.policies = self.run(self._in_session(setup))
        self.run(close_cycle(self.db, CYCLE, fee_rules=FEES))

    @rule(producer=st.sampled_from(PRODUCERS), consumer=st.integers(1, 3), qty=st.integers(1, 12),
          price=st.integers(100, 4_000))
    def order(self, producer, consumer, qty, price):
        order_id = len(self.orders) + 1
        self.run(place_order(self.db, order_id, CYCLE, consumer=consumer,
                             lines=[(f"{order_id}-1", producer, order_id, qty, Decimal(price) / 100)]))
        self.orders[order_id] = (producer, Decimal(qty), price)

    def _receipt(self, order_id: int, share: Decimal) -> tuple[int, dict]:
        producer, quantity, price = self.orders[order_id]
        received = (quantity * share).quantize(Decimal("0.001"))
        consignment_id = 10_000 + order_id
        return consignment_id, receipt_payload(consignment_id, producer, order_id, quantity, received, price)

    @precondition(lambda self: len(self.received) < len(self.orders))
    @rule(data=st.data(), share=st.sampled_from(SHARES))
    def receive(self, data, share):
        order_id = data.draw(st.sampled_from([o for o in self.orders if 10_000 + o not in self.received]))
        consignment_id, payload = self._receipt(order_id, share)
        self.run(apply(self.db, "consignment.delivered", consignment_id, payload))
        self.received[consignment_id] = value_of(Decimal(payload["lines"][0]["received_quantity"]),
                                                 self.orders[order_id][2])

    @precondition(lambda self: self.received)
    @rule(data=st.data(), share=st.sampled_from(SHARES), finish=st.booleans())
    def correct(self, data, share, finish):
        """Delivery holds the receivable, then (unless it fails half-way) sends the correction."""
        consignment_id = data.draw(st.sampled_from(sorted(self.received)))
        correction_id = next(self.corrections)
        held = self.run(self._in_session(hold_for_correction, consignment_id=consignment_id,
                                         correction_id=correction_id))
        if held is None or not finish:
            return  # refused (advanced or settled), or abandoned: the receivable stays as it was
        _, payload = self._receipt(consignment_id - 10_000, share)
        payload["correction_id"] = correction_id
        self.run(apply(self.db, "consignment.corrected", consignment_id, payload))
        self.received[consignment_id] = value_of(Decimal(payload["lines"][0]["received_quantity"]),
                                                 self.orders[consignment_id - 10_000][2])

    @precondition(lambda self: self.received)
    @rule(producer=st.sampled_from(PRODUCERS), amount=st.none() | st.integers(500, 30_000))
    def request(self, producer, amount):
        async def ask(session):
            eligible = await pronto.eligible_receivables(session=session, producer_id=producer)
            ids = None if amount is not None else [r.id for r in eligible]
            if ids == []:
                return None
            await accept_terms_in(session, policy_id=self.policies[0], producer_id=producer)
            return await pronto.request_advance(session=session, producer_id=producer, policy_id=self.policies[0],
                                                amount=amount, receivable_ids=ids)

        adv = self.run(self._in_session(ask))
        if adv is not None:
            self.advance_ids.append(adv.id)

    @precondition(lambda self: self.advance_ids)
    @rule(data=st.data(), decision=st.sampled_from(("approve", "disburse", "reject")))
    def decide(self, data, decision):
        advance_id = data.draw(st.sampled_from(self.advance_ids))
        if decision == "reject":
            self.run(self._in_session(pronto.reject_advance, advance_id=advance_id, financier_id=1, reason="no"))
        else:
            fn = pronto.approve_advance if decision == "approve" else pronto.disburse_advance
            self.run(self._in_session(fn, advance_id=advance_id, financier_id=1))

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), fraction=st.sampled_from((Decimal(1), Decimal("0.5"))))
    def pay(self, data, fraction):
        order_id = data.draw(st.sampled_from(sorted(self.orders)))
        state = self.run(self._in_session(order_due, order_id=order_id))
        if state and state["due"] > 0:
            self.run(self._in_session(record_payment, order_id=order_id, amount=max(1, int(state["due"] * fraction)),
                                      method="cash", client_id=None, source="coordinator"))

    @invariant()
    def books_balance(self):
        self.run(ledger_is_consistent(self.db))

    @invariant()
    def nobody_draws_on_goods_that_did_not_arrive(self):
        async def check(session):
            rows = (await session.execute(select(receivables))).all()
            assert {r.consignment_id for r in rows} == set(self.received)
            for r in rows:
                assert r.accepted_value == self.received[r.consignment_id]
                assert 0 <= r.amount <= r.accepted_value
            for producer in PRODUCERS:
                delivered = sum(r.amount for r in rows if r.producer_id == producer)
                eligible = (await pronto.eligibility(session=session, producer_id=producer))["eligible_value"]
                outstanding = await pronto.producer_outstanding(session=session, producer_id=producer)
                assert eligible + outstanding <= delivered, (producer, eligible, outstanding, delivered)
            by_id = {r.id: r for r in rows}
            for adv in (await session.execute(select(advances).where(
                    advances.c.status.in_(("requested", "approved", "disbursed"))))).all():
                backing = sum(by_id[i].amount for i in adv.receivable_ids)
                assert adv.principal <= backing, (adv.id, adv.principal, backing)
                assert all(by_id[i].advance_id == adv.id for i in adv.receivable_ids)
            held_and_advanced = (await session.execute(select(func.count()).select_from(receivables).where(
                receivables.c.held_for_correction.is_not(None), receivables.c.advance_id.is_not(None)))).scalar_one()
            assert held_and_advanced == 0

        self.run(self._in_session(check))


@pytest.mark.slow
def test_corrections_and_advances_never_exceed_the_goods_received(backend, migrated):
    ReceivableMachine.url = migrated.url("payments", backend)
    run_state_machine_as_test(ReceivableMachine, settings=settings(
        max_examples=12 if backend == "sqlite" else 5, stateful_step_count=30, deadline=None,
        suppress_health_check=list(HealthCheck)))
