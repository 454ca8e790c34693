"""Event builders and small helpers for the payments tests."""

import asyncio
import itertools
from decimal import Decimal

from hypothesis.stateful import RuleBasedStateMachine
from sqlalchemy import func, select

from services.common.errors import DomainError
from services.common.events import Envelope
from services.common.inbox import handle_event
from services.payments.app import SPEC
from services.payments.models import accounts, entries, kernel, postings

_ids = itertools.count(1)


def bs(value) -> str:
    return f"{Decimal(str(value)):.2f}"


async def apply(db, event_type: str, aggregate_id, payload: dict, event_id: str | None = None) -> bool:
    envelope = Envelope(type=event_type, aggregate_id=str(aggregate_id), source="test", payload=payload,
                        **({"id": event_id} if event_id else {}))
    return await handle_event(db, kernel, SPEC.event_handlers, envelope)


async def close_cycle(db, cycle_id: int, fee_rules=None, **extra) -> None:
    await apply(db, "cycle.closed", cycle_id, {"cycle_id": cycle_id, "name": f"Ciclo {cycle_id}",
                                               "delivery_date": "2026-11-28", "fee_rules": fee_rules or [],
                                               "consignments": extra.pop("consignments", []), "bags": [], **extra})


async def place_order(db, order_id: int, cycle_id: int, consumer: int, lines: list[tuple], fees_total="0",
                      point: int = 1, **extra) -> None:
    """lines: (line_id, producer_id, product_id, quantity, unit_price)."""
    body = []
    for line_id, producer_id, product_id, quantity, unit_price in lines:
        total = (Decimal(str(quantity)) * Decimal(str(unit_price))).quantize(Decimal("0.01"))
        body.append({"line_id": line_id, "product_id": product_id, "producer_id": producer_id,
                     "quantity": str(quantity), "unit": "kg", "unit_price": bs(unit_price), "line_total": str(total)})
    total = sum(Decimal(b["line_total"]) for b in body) + Decimal(str(fees_total))
    await apply(db, "order.placed", order_id, {
        "order_id": order_id, "cycle_id": cycle_id, "consumer_account_id": consumer, "delivery_point_id": point,
        "lines": body, "fees_total": bs(fees_total), "total": bs(total), "placed_at": f"2026-11-20T10:00:{order_id % 60:02d}Z",
        **extra})


async def deliver(db, consignment_id: int, cycle_id: int, producer: int, lines: list[tuple], point: int = 1,
                  received_at: str = "2026-11-28T09:00:00Z") -> None:
    """lines: (product_id, ordered_quantity, received_quantity, unit_price)."""
    body = []
    for product_id, ordered, received, unit_price in lines:
        value = (Decimal(str(received)) * Decimal(str(unit_price))).quantize(Decimal("0.01"))
        body.append({"product_id": product_id, "ordered_quantity": str(ordered), "received_quantity": str(received),
                     "rejected_quantity": "0", "reject_reason": None, "unit": "kg", "unit_price": bs(unit_price),
                     "accepted_value": str(value)})
    await apply(db, "consignment.delivered", consignment_id, {
        "consignment_id": consignment_id, "cycle_id": cycle_id, "producer_id": producer, "organization_id": None,
        "delivery_point_id": point, "lines": body, "accepted_value": str(sum(Decimal(b["accepted_value"]) for b in body)),
        "received_at": received_at})


async def balance_of(db, code: str) -> int:
    """Normal-side balance of an account by code, in centavos (0 if it was never opened)."""
    async with db.session() as s:
        row = (await s.execute(select(accounts).where(accounts.c.code == code))).one_or_none()
    if row is None:
        return 0
    return row.balance if row.normal_side == "debit" else -row.balance


async def ledger_is_consistent(db) -> None:
    """Every entry balances, stored balances equal the sum of postings, and all balances sum to zero."""
    async with db.session() as s:
        unbalanced = (await s.execute(select(postings.c.entry_id).group_by(postings.c.entry_id)
                                      .having(func.sum(postings.c.amount) != 0))).all()
        assert unbalanced == []
        short = (await s.execute(select(entries.c.id).outerjoin(postings, postings.c.entry_id == entries.c.id)
                                 .group_by(entries.c.id).having(func.count(postings.c.id) < 2))).all()
        assert short == []
        derived = dict((await s.execute(select(postings.c.account_id, func.sum(postings.c.amount))
                                        .group_by(postings.c.account_id))).all())
        stored = dict((await s.execute(select(accounts.c.id, accounts.c.balance))).all())
        for account_id, balance in stored.items():
            assert balance == int(derived.get(account_id, 0)), f"account {account_id}"
        assert sum(stored.values()) == 0


async def accept_terms(client, keys, *, policy_id: int, producer_id: int) -> dict:
    """The producer accepts the terms of a policy version through the API (before her first advance)."""
    r = await client.post(f"/advance-policies/{policy_id}/acceptances", json={"producer_id": producer_id},
                          headers=keys.headers("producer", producer_id=producer_id))
    assert r.status_code == 201, r.text
    return r.json()


async def accept_terms_in(session, *, policy_id: int, producer_id: int):
    """The same, straight on a payments session (for tests that call the rules directly)."""
    from services.payments import advances, terms

    pol = await advances.policy(session=session, policy_id=policy_id)
    return await terms.accept(session, pol=pol, producer_id=producer_id, account_id=producer_id, role="producer",
                              organization_id=None, consent=None)


async def emitted(db, event_type: str) -> list[dict]:
    """The payloads of the events of this type in the payments outbox, oldest first."""
    async with db.session() as s:
        return list((await s.execute(select(kernel.outbox.c.payload).where(kernel.outbox.c.event_type == event_type)
                                     .order_by(kernel.outbox.c.id))).scalars())


class DatabaseMachine(RuleBasedStateMachine):
    """A hypothesis state machine over a payments database rolled back at the end of each example
    (`url`: set by the test). `run` drives a coroutine on the machine's own event loop; `_in_session`
    runs a rule's unit of work and answers None when the rules refuse it."""

    url: str = ""

    def __init__(self):
        super().__init__()
        from tests.conftest import transactional_database

        self.loop = asyncio.new_event_loop()
        self.ctx = transactional_database(self.url)
        self.db = self.loop.run_until_complete(self.ctx.__aenter__())

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    async def _in_session(self, fn, **kw):
        try:
            async with self.db.session() as session:
                return await fn(session=session, **kw)
        except DomainError:
            return None

    def teardown(self):
        self.run(self.ctx.__aexit__(None, None, None))
        self.loop.close()
