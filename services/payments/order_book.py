"""The orders and cycles this service knows, projected from `order.placed`, `order.cancelled` and
`cycle.closed`, and the ledger entries they cause: a placed order is owed by its consumer, a
cancelled one is credited back to her. An order waiting for a slot is not known here until it is
placed (its `order.placed` comes at promotion): waiting orders are never receivables nor sales.

A placed order's `order.cancelled` can arrive before its `order.placed`: over NATS, an event a
puller fetched and died holding is redelivered only after the ack wait, while the events behind it
flow on (seen in the chaos test). The cancellation then leaves the order here as cancelled, with
nothing owed and no entry, and the late `order.placed` finds it and does nothing: whichever comes
first, the consumer owes nothing for a cancelled order.
"""

import logging
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.money import to_centavos
from services.common.tables import insert_ignoring_conflict, upsert_known, utcnow
from services.payments.ledger import (
    AccountKind,
    EntryDraft,
    Posting,
    ensure_account,
    ensure_accounts,
    post_entries,
    post_entry,
    reverse_entry,
)
from services.payments.models import cycles, order_lines, orders, producer_profiles

log = logging.getLogger("mercado.payments")


def centavos(value: Any) -> int:
    """Event amounts are decimal strings in bolivianos."""
    return to_centavos(Decimal(str(value if value is not None else 0)))


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _date(value: Any) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except (TypeError, ValueError):
        return utcnow()


def _known_of_cycle(payload: dict) -> dict:
    """What an event says of its cycle (only what it knows: nothing is erased)."""
    known = {
        "name": payload.get("name") or payload.get("cycle_name"),
        "delivery_date": _date(payload.get("delivery_date")),
        "coordinator_account_id": _int(payload.get("coordinator_account_id") or payload.get("coordinator_id")),
        "organization_id": _int(payload.get("coordinator_organization_id")),
        "municipality_code": payload.get("municipality_code"),
    }
    return {k: v for k, v in known.items() if v is not None}


async def remember_cycle(*, session: AsyncSession, payload: dict) -> None:
    """Create the cycle row on first sight; fill what this payload knows without erasing anything
    (one statement, and no write when the row already says so: every order of a cycle comes here)."""
    await _remember_cycle(session, int(payload["cycle_id"]), _known_of_cycle(payload))


async def _remember_cycle(session: AsyncSession, cycle_id: int, known: dict) -> None:
    await session.execute(upsert_known(session, cycles, key={"cycle_id": cycle_id}, known=known))


async def remember_producer(*, session: AsyncSession, producer_id: int, name: str | None = None,
                            gender: str | None = None, municipality_code: str | None = None,
                            organization_id: int | None = None) -> None:
    await session.execute(insert_ignoring_conflict(session, producer_profiles).values(
        producer_id=producer_id, updated_at=utcnow()))
    values = {k: v for k, v in {"name": name, "gender": gender, "municipality_code": municipality_code,
                                 "organization_id": organization_id}.items() if v is not None}
    if values:
        await session.execute(update(producer_profiles).where(producer_profiles.c.producer_id == producer_id)
                              .values(**values, updated_at=utcnow()))


async def on_cycle_closed(session: AsyncSession, envelope) -> None:
    payload = envelope.payload
    await remember_cycle(session=session, payload=payload)
    names = {str(line.get("product_id")): line.get("product_name")
             for consignment in payload.get("consignments") or [] for line in consignment.get("lines") or []
             if line.get("product_name")}
    await session.execute(update(cycles).where(cycles.c.cycle_id == int(payload["cycle_id"]))
                          .values(fee_rules=payload.get("fee_rules") or [], closed_at=utcnow(), product_names=names))
    for consignment in payload.get("consignments") or []:
        producer_id = _int(consignment.get("producer_id"))
        if producer_id is not None:
            await remember_producer(session=session, producer_id=producer_id,
                                    name=consignment.get("producer_name"),
                                    gender=consignment.get("producer_gender"),
                                    municipality_code=consignment.get("municipality_code"),
                                    organization_id=_int(consignment.get("organization_id")))


async def on_order_placed(session: AsyncSession, envelope) -> None:
    """The consumer owes the order: debit her account, credit order clearing and the order's fees."""
    await _place(session, [envelope])


async def on_orders_placed(session: AsyncSession, envelopes: list) -> None:
    """Several `order.placed` at once, with the effects of `on_order_placed` on each in turn: a few
    statements for the lot (orders placed together arrive together), whatever its size."""
    await _place(session, envelopes)


async def _place(session: AsyncSession, envelopes: list) -> None:
    placed: dict[int, dict] = {}
    for envelope in envelopes:  # an order placed twice in the lot (two event ids): the first counts
        placed.setdefault(int(envelope.payload["order_id"]), envelope.payload)
    known = set((await session.execute(select(orders.c.order_id).where(orders.c.order_id.in_(placed)))).scalars())
    todo = [(order_id, p) for order_id, p in placed.items() if order_id not in known]
    if not todo:
        return
    cycles_known: dict[int, dict] = {}
    for _, p in todo:  # what each payload says of its cycle, a later one over an earlier one
        cycles_known.setdefault(int(p["cycle_id"]), {}).update(_known_of_cycle(p))
    for cycle_id, values in cycles_known.items():
        await _remember_cycle(session, cycle_id, values)
    consumers = sorted({int(p["consumer_account_id"]) for _, p in todo})
    *consumer_accounts, clearing, platform = await ensure_accounts(session=session, wanted=[
        *[(AccountKind.consumer, c, f"Consumidora {c}") for c in consumers],
        (AccountKind.order_clearing, None, None), (AccountKind.platform_fees, None, None)])
    account_of = dict(zip(consumers, consumer_accounts, strict=True))
    rows = [dict(order_id=order_id, cycle_id=int(p["cycle_id"]), consumer_account_id=int(p["consumer_account_id"]),
                 delivery_point_id=_int(p.get("delivery_point_id")), fees_total=centavos(p.get("fees_total")),
                 total=centavos(p.get("total")), status="placed", placed_at=_datetime(p.get("placed_at")))
            for order_id, p in todo]
    posted = await post_entries(session=session, drafts=[EntryDraft(
        client_id=f"order:{o['order_id']}:placed", kind="order_placed", description=f"Pedido {o['order_id']}",
        cycle_id=o["cycle_id"], ref=f"order:{o['order_id']}",
        lines=[Posting(account_of[o["consumer_account_id"]], o["total"]),
               Posting(clearing, -(o["total"] - o["fees_total"])), Posting(platform, -o["fees_total"])])
        for o in rows])
    await session.execute(orders.insert(), [{**o, "placement_entry_id": entry.id}
                                            for o, entry in zip(rows, posted, strict=True)])
    lines = [(order_id, line) for order_id, p in todo for line in p.get("lines") or []]
    if lines:
        now = utcnow()
        await session.execute(insert_ignoring_conflict(session, producer_profiles).values(
            [{"producer_id": producer_id, "updated_at": now}
             for producer_id in sorted({int(line["producer_id"]) for _, line in lines})]))
        await session.execute(order_lines.insert(), [dict(
            line_id=str(line["line_id"]), order_id=order_id, producer_id=int(line["producer_id"]),
            product_id=int(line["product_id"]), quantity=Decimal(str(line["quantity"])),
            unit=str(line.get("unit") or "unidad"), unit_price=centavos(line.get("unit_price")),
            line_total=centavos(line.get("line_total")), cancelled=False, paid=0) for order_id, line in lines])


async def on_order_cancelled(session: AsyncSession, envelope) -> None:
    """Credit the consumer for the cancelled lines (and the order's fees once nothing is left)."""
    p = envelope.payload
    order_id = int(p["order_id"])
    if p.get("previous_status") == "waitlisted":
        return  # it waited for a slot and was never placed: nothing was owed, nothing to reverse
    order = (await session.execute(select(orders).where(orders.c.order_id == order_id))).one_or_none()
    if order is None:
        # its order.placed is still on its way: remember the order cancelled, so that one does nothing
        log.warning("order.cancelled before its order.placed; the order is kept cancelled", extra={"order_id": order_id})
        await session.execute(orders.insert().values(
            order_id=order_id, cycle_id=int(p["cycle_id"]), consumer_account_id=int(p["consumer_account_id"]),
            delivery_point_id=_int(p.get("delivery_point_id")), fees_total=0, total=centavos(p.get("total")),
            status="cancelled", placed_at=_datetime(p.get("placed_at") or envelope.occurred_at)))
        return
    lines = (await session.execute(select(order_lines).where(order_lines.c.order_id == order_id))).all()
    wanted = {str(x) for x in (p.get("line_ids") or [])} or {line.line_id for line in lines}
    cancellable = [ln for ln in lines if ln.line_id in wanted and not ln.cancelled and ln.accepted_value is None]
    if not cancellable:
        return
    remaining = [ln for ln in lines if not ln.cancelled and ln not in cancellable]
    whole_order = not remaining and all(not ln.cancelled for ln in lines)
    await session.execute(update(order_lines).where(order_lines.c.line_id.in_([ln.line_id for ln in cancellable]))
                          .values(cancelled=True))
    if not remaining:
        await session.execute(update(orders).where(orders.c.order_id == order_id).values(status="cancelled"))
    if whole_order and order.placement_entry_id is not None:
        await reverse_entry(session=session, entry_id=order.placement_entry_id,
                            client_id=f"order:{order_id}:cancelled", reason=str(p.get("reason") or "pedido cancelado"))
        return
    value = sum(ln.line_total for ln in cancellable)
    fees = order.fees_total if not remaining else 0
    consumer = await ensure_account(session=session, kind=AccountKind.consumer, owner_id=order.consumer_account_id)
    clearing = await ensure_account(session=session, kind=AccountKind.order_clearing)
    platform = await ensure_account(session=session, kind=AccountKind.platform_fees)
    ids = ",".join(sorted(ln.line_id for ln in cancellable))
    await post_entry(session=session, client_id=f"order:{order_id}:cancelled:{ids}"[:160], kind="order_cancelled",
                     description=f"Cancelación de líneas del pedido {order_id}", cycle_id=order.cycle_id,
                     ref=f"order:{order_id}",
                     lines=[Posting(clearing, value), Posting(platform, fees), Posting(consumer, -(value + fees))])


async def order_due(*, session: AsyncSession, order_id: int, lock: bool = False) -> dict:
    """What the order costs now, what was paid and refunded, and what is still due (or in credit).
    With `lock`, the order row is locked (PostgreSQL) so two payments cannot both take the same due."""
    from services.payments.models import consumer_payments

    query = select(orders).where(orders.c.order_id == order_id)
    if lock and session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    order = (await session.execute(query)).one_or_none()
    if order is None:
        return {}
    lines = (await session.execute(select(order_lines).where(order_lines.c.order_id == order_id)
                                   .order_by(order_lines.c.line_id))).all()
    live = [ln for ln in lines if not ln.cancelled]
    goods = sum(ln.accepted_value if ln.accepted_value is not None else ln.line_total for ln in live)
    fees = order.fees_total if live else 0
    sums = dict((await session.execute(
        select(consumer_payments.c.kind, func.coalesce(func.sum(consumer_payments.c.amount), 0))
        .where(consumer_payments.c.order_id == order_id).group_by(consumer_payments.c.kind))).all())
    paid, refunded = int(sums.get("payment", 0)), int(sums.get("refund", 0))
    return {"order": order, "lines": lines, "cost": goods + fees, "fees": fees, "paid": paid,
            "refunded": refunded, "due": goods + fees - paid + refunded}
