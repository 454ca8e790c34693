"""Random deliveries, payments, cancellations, refunds, advances, decisions and repayments: after
every step every entry balances, stored balances are the sums of postings, all balances sum to
zero, no fund passes its cap, and each producer's advances account equals what she still owes."""

from decimal import Decimal

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
from services.payments.collections import record_payment, record_refund
from services.payments.models import accounts, advances, funds, orders
from services.payments.order_book import order_due
from tests.payments.helpers import (
    DatabaseMachine,
    accept_terms_in,
    apply,
    close_cycle,
    deliver,
    ledger_is_consistent,
    place_order,
)

PRODUCERS = (1, 2, 3)
CYCLE = 1
ADMIN_FEE = [{"kind": "admin", "basis": "percent", "value": "3.5", "payer": "producer"}, {"kind": "packing", "basis": "flat", "value": "1"}]


class LedgerMachine(DatabaseMachine):
    def __init__(self):
        super().__init__()
        self.next_order = 1
        self.pending: list[int] = []  # placed, not delivered nor cancelled
        self.delivered: list[int] = []
        self.policies: list[int] = []
        self.advance_ids: list[int] = []

    @initialize(caps=st.lists(st.integers(20_000, 200_000), min_size=3, max_size=3))
    def financiers(self, caps):
        async def setup(session):
            await pronto.register_financier(session=session, financier_id=1, name="Banco", kind="development_bank")
            ids = []
            for i, (kind, value) in enumerate((("flat", "7.50"), ("percent", "2.75"), ("daily", "0.07"))):
                fund = await pronto.open_fund(session=session, financier_id=1, name=f"fondo {i}", cap=caps[i])
                pol = await pronto.create_policy(
                    session=session, financier_id=1, fund_id=fund.id, name=kind, advance_rate=Decimal("0.85"),
                    fee_kind=kind, fee_value=Decimal(value), min_amount=1_000, max_amount=150_000,
                    producer_limit=200_000, auto_approve_up_to=60_000 if i != 2 else None)
                ids.append(pol.id)
            return ids

        self.policies = self.run(self._in_session(setup))
        self.run(close_cycle(self.db, CYCLE, fee_rules=ADMIN_FEE))

    @rule(producer=st.sampled_from(PRODUCERS), consumer=st.integers(1, 4), qty=st.integers(1, 9),
          price=st.integers(50, 3_000))
    def place(self, producer, consumer, qty, price):
        order_id = self.next_order
        self.next_order += 1
        self.run(place_order(self.db, order_id, CYCLE, consumer=consumer, fees_total="1.00",
                             lines=[(f"{order_id}-1", producer, order_id, str(qty), str(Decimal(price) / 100))]))
        self.pending.append(order_id)

    @precondition(lambda self: self.pending)
    @rule(data=st.data(), received_share=st.sampled_from((Decimal(1), Decimal("0.5"), Decimal(0), Decimal("0.75"))))
    def deliver_one(self, data, received_share):
        if not self.pending:
            return
        order_id = data.draw(st.sampled_from(self.pending))
        self.pending.remove(order_id)

        async def line(session):
            from services.payments.models import order_lines

            return (await session.execute(select(order_lines).where(order_lines.c.order_id == order_id))).one()

        ln = self.run(self._in_session(line))
        received = (ln.quantity * received_share).quantize(Decimal("0.001"))
        self.run(deliver(self.db, 10_000 + order_id, CYCLE, producer=ln.producer_id,
                         lines=[(ln.product_id, str(ln.quantity), str(received), str(Decimal(ln.unit_price) / 100))]))
        self.delivered.append(order_id)

    @precondition(lambda self: self.pending)
    @rule(data=st.data())
    def cancel(self, data):
        if not self.pending:
            return
        order_id = data.draw(st.sampled_from(self.pending))
        self.pending.remove(order_id)
        self.run(apply(self.db, "order.cancelled", order_id, {"order_id": order_id, "cycle_id": CYCLE,
                                                              "line_ids": [], "reason": "prueba"}))

    @precondition(lambda self: self.next_order > 1)
    @rule(data=st.data(), fraction=st.sampled_from((Decimal(1), Decimal("0.5"), Decimal("0.3"))),
          method=st.sampled_from(("cash", "qr", "transfer")))
    def pay(self, data, fraction, method):
        if self.next_order == 1:
            return
        pool = self.delivered if self.delivered and data.draw(st.booleans()) else range(1, self.next_order)
        order_id = data.draw(st.sampled_from(list(pool)))
        state = self.run(self._in_session(order_due, order_id=order_id))
        if not state or state["due"] <= 0 or state["order"].status == "cancelled":
            return
        amount = max(1, int(state["due"] * fraction))
        self.run(self._in_session(record_payment, order_id=order_id, amount=amount, method=method, client_id=None,
                                  source="coordinator"))

    @precondition(lambda self: self.next_order > 1)
    @rule(data=st.data(), method=st.sampled_from(("cash", "qr", "transfer")))
    def refund(self, data, method):
        if self.next_order == 1:
            return
        order_id = data.draw(st.integers(1, self.next_order - 1))
        state = self.run(self._in_session(order_due, order_id=order_id))
        if state and state["due"] < 0:
            self.run(self._in_session(record_refund, order_id=order_id, amount=-state["due"], method=method,
                                      client_id=None))

    @precondition(lambda self: self.delivered)
    @rule(data=st.data(), policy=st.integers(0, 2), amount=st.none() | st.integers(1_000, 20_000))
    def request(self, data, policy, amount):
        async def ask(session):
            from services.payments.models import receivables

            producers = sorted({r.producer_id for r in (await session.execute(select(receivables.c.producer_id).where(
                receivables.c.status == "open", receivables.c.collected == 0, receivables.c.advance_id.is_(None),
                receivables.c.amount > 0))).all()})
            if not producers:
                return None
            producer = data.draw(st.sampled_from(producers))
            eligible = await pronto.eligible_receivables(session=session, producer_id=producer)
            ids = None if amount is not None else [r.id for r in eligible]
            await accept_terms_in(session, policy_id=self.policies[policy], producer_id=producer)
            return await pronto.request_advance(session=session, producer_id=producer,
                                                policy_id=self.policies[policy], amount=amount, receivable_ids=ids)

        adv = self.run(self._in_session(ask))
        if adv is not None:
            self.advance_ids.append(adv.id)

    @precondition(lambda self: self.advance_ids)
    @rule(data=st.data(), decision=st.sampled_from(("approve", "disburse", "reject")))
    def decide(self, data, decision):
        if not self.advance_ids:
            return
        advance_id = data.draw(st.sampled_from(self.advance_ids))
        fn = {"approve": pronto.approve_advance, "disburse": pronto.disburse_advance}.get(decision)
        if fn is not None:
            self.run(self._in_session(fn, advance_id=advance_id, financier_id=1))
        else:
            self.run(self._in_session(pronto.reject_advance, advance_id=advance_id, financier_id=1, reason="no"))

    @precondition(lambda self: self.delivered)
    @rule(data=st.data())
    def write_off(self, data):
        if not self.delivered:
            return
        order_id = data.draw(st.sampled_from(self.delivered))

        async def find(session):
            from services.payments.models import receivables

            rid = (await session.execute(select(receivables.c.id).where(
                receivables.c.consignment_id == 10_000 + order_id))).scalar_one()
            return await pronto.declare_uncollectible(session=session, receivable_id=rid)

        self.run(self._in_session(find))

    @invariant()
    def books_balance(self):
        self.run(ledger_is_consistent(self.db))

    @invariant()
    def funds_within_cap_and_advances_match_the_ledger(self):
        async def check(session):
            for fund in (await session.execute(select(funds))).all():
                assert 0 <= fund.outstanding_principal <= fund.cap
                outstanding = (await session.execute(select(func.coalesce(func.sum(
                    advances.c.principal - advances.c.principal_repaid), 0)).where(
                    advances.c.fund_id == fund.id, advances.c.status.in_(("disbursed", "producer_debt"))))).scalar_one()
                assert outstanding == fund.outstanding_principal
            for producer in PRODUCERS:
                owed = (await session.execute(select(func.coalesce(func.sum(
                    advances.c.principal + advances.c.fee - advances.c.principal_repaid - advances.c.fee_repaid), 0))
                    .where(advances.c.producer_id == producer,
                           advances.c.status.in_(("disbursed", "producer_debt", "repaid"))))).scalar_one()
                balance = (await session.execute(select(accounts.c.balance).where(
                    accounts.c.code == f"producer_advances:{producer}"))).scalar_one_or_none() or 0
                assert balance == owed
            assert (await session.execute(select(func.count()).select_from(orders))).scalar_one() == self.next_order - 1

        self.run(self._in_session(check))


@pytest.mark.slow
def test_random_money_flows_keep_the_books_balanced(backend, migrated):
    LedgerMachine.url = migrated.url("payments", backend)
    examples = 25 if backend == "sqlite" else 10
    run_state_machine_as_test(LedgerMachine, settings=settings(
        max_examples=examples, stateful_step_count=40, deadline=None,
        suppress_health_check=list(HealthCheck)))
