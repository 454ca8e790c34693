"""Random orders, deliveries, payments, refunds, credit spent and paid back, advances (with their
repayments), final settlements,
payout batches, paid and failed payouts and retries, over three cycles: money is conserved and no
account outside the designated ones goes negative.

Conservation, with the money in and out tallied by this test from what each call answered:

    consumer payments = payouts paid + refunds + organization shares + platform fees
                        + advances repaid to financiers (principal and cost)
                        + consumer credit outstanding (on her orders and her saldo a favor)
                        - consumer debt outstanding
                        + goods ordered not yet delivered (order clearing)
                        + payable not yet paid (producer, producer payable, payouts in transit)

and the cash held (clearing accounts and funds) is what came in less what went out. Few examples by
default; `MONEY_EXAMPLES=200` runs more.
"""

import os
from decimal import Decimal

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

from services.common.auth import Principal, Role
from services.common.errors import DomainError
from services.payments import advances as pronto
from services.payments import credit, payouts
from services.payments.collections import record_payment, record_refund
from services.payments.final_settlement import settle_cycle
from services.payments.models import accounts, advances, order_lines, payables, payout_lines
from services.payments.order_book import order_due, remember_producer
from services.payments.shares import set_share
from tests.payments.helpers import (
    DatabaseMachine,
    accept_terms_in,
    close_cycle,
    deliver,
    ledger_is_consistent,
    place_order,
)

PRODUCERS = (1, 2, 3)  # 2 belongs to organization 5 (4 %, collects for her); 3 to organization 6 (2.5 %)
CYCLES = (1, 2, 3)
FEES = [{"kind": "admin", "basis": "percent", "value": "3", "payer": "producer"},
        {"kind": "packing", "basis": "flat", "value": "1"}]
CAP = 500_000
METHODS = ("cash", "qr", "transfer")
ADMIN = Principal(account_id=1, role=Role.admin)
PAYOUT_METHODS = {"bank_transfer": {"bank": "BNB", "account_number": "1234567"},
                  "mobile_wallet": {"wallet_number": "71234567"}, "cash": {}}


class MoneyMachine(DatabaseMachine):
    def __init__(self):
        super().__init__()
        self.next_order = 1
        self.pending: list[tuple[int, int]] = []  # (order, cycle) placed, not delivered nor cancelled
        self.settled: set[int] = set()
        self.delivered_in: set[int] = {1}  # cycles with goods delivered
        self.advanced = 0
        self.lines: list[int] = []  # payout lines made
        self.paid_in = self.refunded = self.paid_out = 0

    @initialize(prices=st.lists(st.integers(500, 6_000), min_size=3, max_size=3),
                methods=st.lists(st.sampled_from(("cash", "transfer")), min_size=3, max_size=3))
    def world(self, prices, methods):
        """Three cycles; cycle 1 starts with each producer's goods delivered and paid, so settlements
        and payouts have something to pay from the first step."""
        async def setup(session):
            await pronto.register_financier(session=session, financier_id=1, name="Fideicomiso", kind="trust_fund")
            fund = await pronto.open_fund(session=session, financier_id=1, name="fondo", cap=CAP)
            policy = await pronto.create_policy(session=session, financier_id=1, fund_id=fund.id, name="pp",
                                                advance_rate=Decimal("0.8"), fee_kind="percent",
                                                fee_value=Decimal("2.5"), min_amount=100, max_amount=100_000,
                                                producer_limit=200_000, auto_approve_up_to=100_000)
            for producer in PRODUCERS:  # each accepted the fund's terms before her first advance
                await accept_terms_in(session, policy_id=policy.id, producer_id=producer)
            await set_share(session=session, organization_id=5, rate=Decimal(4), collects_for_members=True, set_by=1)
            await set_share(session=session, organization_id=6, rate=Decimal("2.5"), collects_for_members=False,
                            set_by=1)
            await remember_producer(session=session, producer_id=2, organization_id=5)
            await remember_producer(session=session, producer_id=3, organization_id=6)

        self.run(self._in_session(setup))
        for cycle in CYCLES:
            self.run(close_cycle(self.db, cycle, fee_rules=FEES, coordinator_account_id=900))
        for producer, price, method in zip(PRODUCERS, prices, methods, strict=True):
            order_id = self.next_order
            self.next_order += 1
            unit_price = str(Decimal(price) / 100)
            self.run(place_order(self.db, order_id, 1, consumer=producer, fees_total="1.00",
                                 lines=[(f"{order_id}-1", producer, order_id, "2", unit_price)]))
            self.run(deliver(self.db, 10_000 + order_id, 1, producer=producer,
                             lines=[(order_id, "2", "2", unit_price)]))
            due = self.run(self._in_session(order_due, order_id=order_id))["due"]
            if self.run(self._in_session(record_payment, order_id=order_id, amount=due, method=method,
                                         client_id=None, source="coordinator")) is not None:
                self.paid_in += due

    def _open_cycles(self):
        return [c for c in CYCLES if c not in self.settled]

    @rule(data=st.data(), producer=st.sampled_from(PRODUCERS), consumer=st.integers(1, 3), qty=st.integers(1, 6),
          price=st.integers(50, 4_000))
    def place(self, data, producer, consumer, qty, price):
        open_cycles = self._open_cycles()
        if not open_cycles:
            return
        cycle = data.draw(st.sampled_from(open_cycles))
        order_id = self.next_order
        self.next_order += 1
        self.run(place_order(self.db, order_id, cycle, consumer=consumer, fees_total="1.00",
                             lines=[(f"{order_id}-1", producer, order_id, str(qty), str(Decimal(price) / 100))]))
        self.pending.append((order_id, cycle))

    @precondition(lambda self: self.pending)
    @rule(data=st.data(), share=st.sampled_from((Decimal(1), Decimal("0.5"), Decimal(0))))
    def deliver_one(self, data, share):
        candidates = [(o, c) for o, c in self.pending if c not in self.settled]
        if not candidates:
            return
        order_id, cycle = data.draw(st.sampled_from(candidates))
        self.pending.remove((order_id, cycle))

        async def line(session):
            return (await session.execute(select(order_lines).where(order_lines.c.order_id == order_id))).one()

        ln = self.run(self._in_session(line))
        received = (ln.quantity * share).quantize(Decimal("0.001"))
        self.run(deliver(self.db, 10_000 + order_id, cycle, producer=ln.producer_id,
                         lines=[(ln.product_id, str(ln.quantity), str(received), str(Decimal(ln.unit_price) / 100))]))
        self.delivered_in.add(cycle)

    @precondition(lambda self: self.next_order > 1)
    @rule(data=st.data(), fraction=st.sampled_from((Decimal(1), Decimal("0.4"))), method=st.sampled_from(METHODS))
    def pay(self, data, fraction, method):
        order_id = data.draw(st.integers(1, self.next_order - 1))
        state = self.run(self._in_session(order_due, order_id=order_id))
        if not state or state["due"] <= 0 or state["order"].status == "cancelled":
            return
        amount = max(1, int(state["due"] * fraction))
        done = self.run(self._in_session(record_payment, order_id=order_id, amount=amount, method=method,
                                         client_id=None, source="coordinator"))
        if done is not None:
            self.paid_in += amount

    @precondition(lambda self: self.next_order > 1)
    @rule(data=st.data(), method=st.sampled_from(METHODS))
    def refund(self, data, method):
        order_id = data.draw(st.integers(1, self.next_order - 1))
        state = self.run(self._in_session(order_due, order_id=order_id))
        if state and state["due"] < 0:
            done = self.run(self._in_session(record_refund, order_id=order_id, amount=-state["due"], method=method,
                                             client_id=None))
            if done is not None:
                self.refunded += -state["due"]

    @precondition(lambda self: self.next_order > 1)
    @rule(data=st.data())
    def spend_credit(self, data):
        """Her saldo a favor pays (part of) another of her orders."""
        order_id = data.draw(st.integers(1, self.next_order - 1))
        state = self.run(self._in_session(order_due, order_id=order_id))
        if not state or state["due"] <= 0 or state["order"].status == "cancelled":
            return
        who = state["order"].consumer_account_id
        self.run(self._in_session(credit.spend_credit, principal=ADMIN, consumer_account_id=who,
                                  order_id=order_id, amount=None, client_id=None))

    @rule(consumer=st.integers(1, 3), method=st.sampled_from(METHODS))
    def refund_credit(self, consumer, method):
        """An administrator pays a consumer's saldo a favor back."""
        async def balance(session):
            return await credit.credit_balance(session=session, consumer_account_id=consumer)

        amount = self.run(self._in_session(balance))
        if amount:
            done = self.run(self._in_session(credit.refund_credit, consumer_account_id=consumer, amount=amount,
                                             method=method, client_id=None, recorded_by=1))
            if done is not None:
                self.refunded += amount

    @precondition(lambda self: self.pending)
    @rule(data=st.data())
    def cancel(self, data):
        order_id, cycle = data.draw(st.sampled_from(self.pending))
        self.pending.remove((order_id, cycle))
        from tests.payments.helpers import apply

        self.run(apply(self.db, "order.cancelled", order_id, {"order_id": order_id, "cycle_id": cycle,
                                                              "line_ids": [], "reason": "prueba"}))

    @rule(producer=st.sampled_from(PRODUCERS))
    def advance(self, producer):
        async def ask(session):
            eligible = await pronto.eligible_receivables(session=session, producer_id=producer)
            if eligible:
                return await pronto.request_advance(session=session, producer_id=producer, policy_id=None,
                                                    amount=None, receivable_ids=[r.id for r in eligible])

        if self.run(self._in_session(ask)) is not None:
            self.advanced += 1

    @precondition(lambda self: self.delivered_in - self.settled)
    @rule(data=st.data())
    def settle(self, data):
        cycle = data.draw(st.sampled_from(sorted(self.delivered_in - self.settled)))
        if self.run(self._in_session(settle_cycle, cycle_id=cycle, settled_by=900)) is not None:
            self.settled.add(cycle)

    @precondition(lambda self: self.settled)
    @rule(data=st.data(), method=st.sampled_from(sorted(PAYOUT_METHODS)), overshoot=st.integers(-5_000, 3_000))
    def batch(self, data, method, overshoot):
        cycle = data.draw(st.sampled_from(sorted(self.settled)))

        async def make(session):
            rows = (await session.execute(select(payables).where(payables.c.cycle_id == cycle))).all()
            if not rows:
                return None
            row = data.draw(st.sampled_from(rows))
            by_org = row.collected_by_organization
            members = [r for r in rows if by_org and r.organization_id == row.organization_id
                       and r.collected_by_organization] or [row]
            left = sum(r.amount - r.committed for r in members)
            amount = left + overshoot
            line = payouts.LineRequest(payee_kind="organization" if by_org else "producer",
                                       payee_id=row.organization_id if by_org else row.producer_id, method=method,
                                       amount=amount if amount > 0 else None, **PAYOUT_METHODS[method])
            try:
                async with session.begin_nested():
                    batch_id = await payouts.create_batch(session=session, cycle_id=cycle, lines=[line],
                                                          maker=payouts.Maker(account_id=900))
            except DomainError as refused:
                # a payout is refused only when it asks more than is left (or nothing is left)
                assert refused.code in ("payout_exceeds_payable", "nothing_payable"), refused.code
                assert amount > left or left == 0
                return None
            assert amount <= left or amount <= 0
            return (await payouts.batch(session=session, batch_id=batch_id))["lines"][0][0].id

        line_id = self.run(self._in_session(make))
        if line_id is not None:
            self.lines.append(line_id)
            self._work(line_id, data.draw(st.sampled_from(("paid", "paid", "failed", None))))

    @precondition(lambda self: self.lines)
    @rule(data=st.data(), outcome=st.sampled_from(("paid", "failed", "retry")))
    def work_line(self, data, outcome):
        self._work(data.draw(st.sampled_from(self.lines)), outcome)

    def _work(self, line_id: int, outcome: str | None) -> None:
        if outcome == "paid":
            before = self.run(self._in_session(_line, line_id=line_id))
            after = self.run(self._in_session(payouts.mark_paid, line_id=line_id, reference="REF", received_by="Ana"))
            if after is not None and before.status == "pending":
                self.paid_out += after.amount
        elif outcome == "failed":
            self.run(self._in_session(payouts.mark_failed, line_id=line_id, reason="rechazado"))
        elif outcome == "retry":
            new = self.run(self._in_session(payouts.retry, line_id=line_id))
            if new is not None:
                self.lines.append(new)

    @invariant()
    def books_balance(self):
        self.run(ledger_is_consistent(self.db))

    @invariant()
    def money_is_conserved_and_nothing_undesignated_is_negative(self):
        async def check(session):
            rows = (await session.execute(select(accounts))).all()
            by_kind: dict[str, int] = {}
            credit = debt = 0
            for r in rows:
                normal = r.balance if r.normal_side == "debit" else -r.balance
                if not r.may_go_negative:
                    assert normal >= 0, f"{r.code} is negative: {normal}"
                if r.kind == "consumer":
                    credit += max(0, -normal)
                    debt += max(0, normal)
                by_kind[r.kind] = by_kind.get(r.kind, 0) + normal
            repaid = (await session.execute(select(func.coalesce(func.sum(
                advances.c.principal_repaid + advances.c.fee_repaid), 0)))).scalar_one()
            k = by_kind.get
            assert self.paid_in == (self.paid_out + self.refunded + k("organization", 0) + k("platform_fees", 0)
                                    + int(repaid) + credit + k("consumer_credit", 0) - debt + k("order_clearing", 0)
                                    + k("producer", 0) + k("producer_payable", 0) + k("payouts_in_transit", 0))
            disbursed = (await session.execute(select(func.coalesce(func.sum(advances.c.principal), 0)).where(
                advances.c.status.in_(("disbursed", "repaid", "producer_debt"))))).scalar_one()
            cash = sum(k(kind, 0) for kind in ("cash_clearing", "qr_clearing", "bank_clearing", "financier_fund"))
            assert cash == self.paid_in - self.refunded - self.paid_out + CAP - int(disbursed)
            # what is payable and in transit is what the payables and the pending lines say
            left = (await session.execute(select(func.coalesce(func.sum(payables.c.amount - payables.c.committed), 0))
                                          )).scalar_one()
            assert k("producer_payable", 0) == int(left)
            pending = (await session.execute(select(func.coalesce(func.sum(payout_lines.c.amount), 0))
                                             .where(payout_lines.c.status == "pending"))).scalar_one()
            assert k("payouts_in_transit", 0) == int(pending)
            paid = (await session.execute(select(func.coalesce(func.sum(payables.c.paid), 0)))).scalar_one()
            assert int(paid) == self.paid_out

        self.run(self._in_session(check))


async def _line(*, session, line_id):
    return (await session.execute(select(payout_lines).where(payout_lines.c.id == line_id))).one()


def test_money_is_conserved_through_payouts(backend, migrated):
    MoneyMachine.url = migrated.url("payments", backend)
    wanted = int(os.environ.get("MONEY_EXAMPLES", "0"))
    examples = wanted or (4 if backend == "sqlite" else 1)
    run_state_machine_as_test(MoneyMachine, settings=settings(
        max_examples=examples, stateful_step_count=35 if not wanted else 60, deadline=None,
        suppress_health_check=list(HealthCheck)))


