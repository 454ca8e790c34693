"""Orders placed together reach payments together: the consumer applies a batch of `order.placed` in
a few statements (`Batched`), with exactly the effects of applying them one after another."""

from decimal import Decimal

from sqlalchemy import select

from services.common.events import Envelope
from services.common.incoming import Batched, IncomingEvents
from services.payments.app import SPEC
from services.payments.models import accounts, entries, kernel, order_lines, orders
from services.payments.order_book import on_order_placed, on_orders_placed
from tests.payments.helpers import bs, ledger_is_consistent


def placed(order_id: int, consumer: int, lines: list[tuple[int, str, str]], fees="2.00") -> Envelope:
    """lines: (producer id, quantity, unit price)."""
    body = [{"line_id": f"{order_id}-{n}", "product_id": 10 + n, "producer_id": producer, "quantity": q,
             "unit": "kg", "unit_price": bs(price), "line_total": bs(Decimal(q) * Decimal(price))}
            for n, (producer, q, price) in enumerate(lines, start=1)]
    total = sum(Decimal(b["line_total"]) for b in body) + Decimal(fees)
    return Envelope(type="order.placed", aggregate_id=str(order_id), source="orders", payload={
        "order_id": order_id, "cycle_id": 7, "name": "Ciclo 7", "delivery_date": "2026-11-28",
        "consumer_account_id": consumer, "delivery_point_id": 3, "lines": body, "fees_total": bs(fees),
        "total": bs(total), "placed_at": "2026-11-25T10:00:00Z"})


EVENTS = [placed(1, 41, [(5, "2", "4.50"), (6, "1", "12.00")]),
          placed(2, 42, [(5, "3", "4.50")], fees="0.00"),
          placed(3, 41, [(7, "1.5", "8.00")]),
          placed(4, 43, [(6, "2", "12.00"), (7, "1", "8.00"), (5, "1", "4.50")])]


async def _books(db) -> dict:
    async with db.session() as s:
        owed = dict((await s.execute(select(accounts.c.code, accounts.c.balance))).all())
        placed_orders = sorted((await s.execute(select(
            orders.c.order_id, orders.c.consumer_account_id, orders.c.total, orders.c.fees_total,
            orders.c.placement_entry_id.is_not(None)))).all())
        lines = sorted((await s.execute(select(order_lines.c.line_id, order_lines.c.producer_id,
                                               order_lines.c.line_total))).all())
        entry_ids = sorted((await s.execute(select(entries.c.client_id))).scalars())
    return {"balances": owed, "orders": placed_orders, "lines": lines, "entries": entry_ids}


# by hand: order 1 = 9.00 + 12.00 + 2.00 fees, 2 = 13.50, 3 = 12.00 + 2.00, 4 = 24.00 + 8.00 + 4.50 + 2.00
EXPECTED_BALANCES = {"consumer:41": 2300 + 1400, "consumer:42": 1350, "consumer:43": 3850,
                     "order_clearing": -(2100 + 1350 + 1200 + 3650), "platform_fees": -600}
EXPECTED_ENTRIES = [f"order:{n}:placed" for n in (1, 2, 3, 4)]


async def _consume(db, batches: list[list[Envelope]], handlers=SPEC.event_handlers) -> None:
    incoming = IncomingEvents(db, kernel, handlers, service="payments", concurrency=1)
    for batch in batches:
        await incoming.store(batch)
        await incoming.drain()


def _again(event: Envelope) -> Envelope:
    """The same order placed, under another event id."""
    return Envelope(type=event.type, aggregate_id=event.aggregate_id, source=event.source, payload=event.payload)


async def test_a_batch_of_placed_orders_has_the_effects_of_one_order_after_another(db):
    lots = []
    handlers = {**SPEC.event_handlers, "order.placed": Batched(
        on_order_placed, lambda session, envelopes: lots.append(len(envelopes)) or on_orders_placed(session, envelopes))}
    await _consume(db, [[*EVENTS, _again(EVENTS[2])]], handlers)  # one batch, order 3 twice in it
    assert lots == [5]
    together = await _books(db)
    await ledger_is_consistent(db)
    assert together["balances"] == EXPECTED_BALANCES and together["entries"] == EXPECTED_ENTRIES
    assert [o[0] for o in together["orders"]] == [1, 2, 3, 4] and all(o[4] for o in together["orders"])
    assert len(together["lines"]) == 7
    await _consume(db, [[_again(e) for e in EVENTS]], handlers)  # placed again, in a lot: nothing changes
    assert await _books(db) == together


async def test_one_order_after_another_gives_the_same_books(db):
    await _consume(db, [[event] for event in EVENTS])
    one_by_one = await _books(db)
    await ledger_is_consistent(db)
    assert one_by_one["balances"] == EXPECTED_BALANCES and one_by_one["entries"] == EXPECTED_ENTRIES
    assert [o[0] for o in one_by_one["orders"]] == [1, 2, 3, 4] and len(one_by_one["lines"]) == 7
