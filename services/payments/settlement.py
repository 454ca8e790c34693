"""Producer settlement: a delivered consignment becomes the producer's receivable, net of the
cycle's producer fees, and consumers are credited for what was short or rejected.

Matching a consignment to the orders: its accepted value fills the matching order lines (same
cycle, delivery point, producer and product, not cancelled) in the order they were placed, each up
to its ordered value; the line where the value runs out gets the rest, later lines get nothing.
What a line lacks of its ordered value is credited to its consumer.
"""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import Conflict
from services.payments.collections import refresh_collected
from services.payments.fees import parse_fee_rules, producer_fees
from services.payments.ledger import AccountKind, Posting, ensure_account, post_entry
from services.payments.models import cycles, order_lines, orders, receivables
from services.payments.order_book import _datetime, _int, centavos, remember_producer

COLLECTION_DAYS = 14  # expected days from delivery to the consumers' payment, for daily advance fees


async def on_consignment_delivered(session: AsyncSession, envelope) -> None:
    await record_delivery(session=session, payload=envelope.payload)


@dataclass
class PostedReceipt:
    """A receipt's ledger entry and what the receivable records of it."""

    entry_id: int
    accepted_value: int
    fees: int
    fee_lines: list
    lines: list
    line_shares: list[tuple[str, int]]


async def closed_cycle(*, session: AsyncSession, cycle_id: int):
    cycle = (await session.execute(select(cycles).where(cycles.c.cycle_id == cycle_id))).one_or_none()
    if cycle is None or cycle.closed_at is None:
        # without cycle.closed the fees are unknown: refuse, so the event is delivered again later
        raise Conflict(f"cycle {cycle_id} has not been closed here yet; its fee rules are unknown",
                       code="cycle_not_closed")
    return cycle


async def post_receipt(*, session: AsyncSession, payload: dict, cycle, client_id: str,
                       description: str) -> PostedReceipt:
    """Match the receipt's accepted value to the order lines still unmatched and post it: order
    clearing pays the producer (net of fees), the platform its fees, consumers what they lacked."""
    consignment_id, producer_id = int(payload["consignment_id"]), int(payload["producer_id"])
    point_id = _int(payload.get("delivery_point_id"))
    lines = payload.get("lines") or []
    accepted_total = centavos(payload.get("accepted_value"))
    credits: dict[int, int] = {}
    matched_ordered = 0
    unmatched = 0
    line_shares: list[tuple[str, int]] = []
    for line in lines:
        accepted = centavos(line.get("accepted_value"))
        query = (select(order_lines.c.line_id, order_lines.c.line_total, orders.c.consumer_account_id)
                 .join(orders, orders.c.order_id == order_lines.c.order_id)
                 .where(orders.c.cycle_id == cycle.cycle_id, order_lines.c.producer_id == producer_id,
                        order_lines.c.product_id == int(line["product_id"]), order_lines.c.cancelled.is_(False),
                        order_lines.c.accepted_value.is_(None))
                 .order_by(orders.c.placed_at, orders.c.order_id, order_lines.c.line_id))
        if point_id is not None:
            query = query.where(orders.c.delivery_point_id == point_id)
        remaining = accepted
        for match in (await session.execute(query)).all():
            share = min(match.line_total, remaining)
            remaining -= share
            matched_ordered += match.line_total
            line_shares.append((match.line_id, share))
            short = match.line_total - share
            if short:
                credits[match.consumer_account_id] = credits.get(match.consumer_account_id, 0) + short
        unmatched += remaining
    accepted_sum = sum(centavos(ln.get("accepted_value")) for ln in lines)
    if accepted_sum != accepted_total:
        unmatched += accepted_total - accepted_sum  # trust the consignment total; lines are its detail

    fee_lines = producer_fees(rules=parse_fee_rules(cycle.fee_rules), accepted_value=accepted_total, lines=lines)
    fees = sum(f["amount"] for f in fee_lines)
    clearing = await ensure_account(session=session, kind=AccountKind.order_clearing)
    producer = await ensure_account(session=session, kind=AccountKind.producer, owner_id=producer_id,
                                    name=f"Productora {producer_id}")
    platform = await ensure_account(session=session, kind=AccountKind.platform_fees)
    postings = [Posting(clearing, matched_ordered + unmatched), Posting(producer, -(accepted_total - fees)),
                Posting(platform, -fees)]
    for consumer_id, amount in sorted(credits.items()):
        account = await ensure_account(session=session, kind=AccountKind.consumer, owner_id=consumer_id)
        postings.append(Posting(account, -amount))
    posted = await post_entry(session=session, client_id=client_id, kind="consignment_delivered",
                              description=description, producer_id=producer_id, cycle_id=cycle.cycle_id,
                              ref=f"consignment:{consignment_id}", lines=postings)
    return PostedReceipt(entry_id=posted.id, accepted_value=accepted_total, fees=fees, fee_lines=fee_lines,
                         lines=[_plain(ln, cycle.product_names or {}) for ln in lines], line_shares=line_shares)


async def link_order_lines(*, session: AsyncSession, receivable_id: int, shares: list[tuple[str, int]]) -> None:
    for line_id, share in shares:
        await session.execute(update(order_lines).where(order_lines.c.line_id == line_id)
                              .values(accepted_value=share, receivable_id=receivable_id))


async def record_delivery(*, session: AsyncSession, payload: dict) -> int:
    """Recognise the producer's receivable for one delivered consignment; returns its id."""
    consignment_id = int(payload["consignment_id"])
    found = (await session.execute(select(receivables.c.id).where(receivables.c.consignment_id == consignment_id))
             ).scalar_one_or_none()
    if found is not None:
        return found
    cycle_id, producer_id = int(payload["cycle_id"]), int(payload["producer_id"])
    cycle = await closed_cycle(session=session, cycle_id=cycle_id)
    await remember_producer(session=session, producer_id=producer_id,
                            organization_id=_int(payload.get("organization_id")))
    receipt = await post_receipt(session=session, payload=payload, cycle=cycle,
                                 client_id=f"consignment:{consignment_id}:delivered",
                                 description=f"Entrega {consignment_id}: valor aceptado menos comisiones")
    received_at = _datetime(payload.get("received_at"))
    result = await session.execute(receivables.insert().values(
        consignment_id=consignment_id, cycle_id=cycle_id, producer_id=producer_id,
        organization_id=_int(payload.get("organization_id")), delivery_point_id=_int(payload.get("delivery_point_id")),
        accepted_value=receipt.accepted_value, fees=receipt.fees, amount=receipt.accepted_value - receipt.fees,
        collected=0, status="open", lines=receipt.lines, fee_lines=receipt.fee_lines, received_at=received_at,
        expected_collection_on=received_at.date() + timedelta(days=COLLECTION_DAYS), entry_id=receipt.entry_id,
    ).returning(receivables.c.id))
    receivable_id = result.scalar_one()
    await link_order_lines(session=session, receivable_id=receivable_id, shares=receipt.line_shares)
    # consumers who paid before delivery have already paid for what they received
    await refresh_collected(session=session, receivable_ids=[receivable_id], method=None, source="delivery")
    return receivable_id


def _plain(line: dict, names: dict) -> dict:
    plain = {k: (str(v) if isinstance(v, Decimal) else v) for k, v in line.items()}
    name = names.get(str(line.get("product_id")))
    if name and not plain.get("product_name"):
        plain["product_name"] = name
    return plain
