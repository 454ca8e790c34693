"""Consignments: what each producer brings to each delivery point for a closed cycle, and receiving.

`cycle.closed` creates one consignment per (producer, cycle, point) with its lines and unit prices.
Receiving records what actually arrived per line (variable weight, shortages, rejects with a
reason); the accepted value follows it, exact to the centavo, and `consignment.delivered` tells
payments what the producer is owed.
"""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Role
from services.common.errors import Conflict, Forbidden, InvalidInput, NotFound
from services.common.events import emit
from services.common.money import from_centavos, to_centavos
from services.common.tables import KernelTables, insert_ignoring_conflict, utcnow
from services.common.units import kg_of, parse_quantity, parse_unit, quantity_text
from services.delivery.access import remember_cycle_owner
from services.delivery.models import Booking, Consignment, ConsignmentCorrection, ConsignmentLine, Cycle

RECEIVED = "received"


def line_value_centavos(*, quantity: Decimal, unit_price_centavos: int) -> int:
    """Quantity × unit price, rounded half-up to the centavo (the money module's rule)."""
    return int((quantity * unit_price_centavos).quantize(Decimal(1), rounding=ROUND_HALF_UP))


async def record_closed_cycle(*, session: AsyncSession, payload: dict) -> list[Consignment]:
    """Apply a `cycle.closed` payload: the cycle's delivery day, its consignments, its bags' owners.

    Idempotent: a consignment that exists already (same producer, cycle and point) is left alone.
    """
    cycle_id = int(payload["cycle_id"])
    delivery_date = date.fromisoformat(str(payload["delivery_date"])[:10])
    await session.execute(insert_ignoring_conflict(session, Cycle.__table__).values(
        id=cycle_id, name=str(payload.get("name") or ""), delivery_date=delivery_date, closed_at=utcnow()))
    await session.execute(update(Cycle.__table__).where(Cycle.__table__.c.id == cycle_id)
                          .values(delivery_date=delivery_date, name=str(payload.get("name") or "")))
    if payload.get("coordinator_account_id") is not None:
        point_ids = payload.get("delivery_point_ids")
        if point_ids is None:  # payloads from before the field: the points that have consignments or bags
            point_ids = {int(e["delivery_point_id"]) for e in (payload.get("consignments") or [])
                         } | {int(b["delivery_point_id"]) for b in (payload.get("bags") or [])}
        await remember_cycle_owner(session=session, cycle_id=cycle_id,
                                   coordinator_account_id=int(payload["coordinator_account_id"]),
                                   point_ids=list(point_ids))

    merged: dict[tuple[int, int], dict] = {}
    for entry in payload.get("consignments") or []:
        key = (int(entry["producer_id"]), int(entry["delivery_point_id"]))
        target = merged.setdefault(key, {**entry, "lines": {}})
        for line in entry.get("lines") or []:
            product_id = int(line["product_id"])
            quantity = parse_quantity(line["quantity"])
            kg = _kg_of_line(line, quantity)
            if product_id in target["lines"]:
                known = target["lines"][product_id]
                known["quantity"] += quantity
                known["kg"] = None if known["kg"] is None or kg is None else known["kg"] + kg
            else:
                target["lines"][product_id] = {
                    "product_name": str(line.get("product_name") or ""), "unit": parse_unit(line["unit"]).value,
                    "quantity": quantity, "unit_price_centavos": to_centavos(line["unit_price"]), "kg": kg}

    created = []
    for (producer_id, point_id), entry in merged.items():
        exists = (await session.execute(select(Consignment.id).where(
            Consignment.producer_id == producer_id, Consignment.cycle_id == cycle_id,
            Consignment.delivery_point_id == point_id))).first()
        if exists:
            continue
        pickup = entry.get("pickup") or {}
        consignment = Consignment(
            cycle_id=cycle_id, producer_id=producer_id, producer_name=str(entry.get("producer_name") or ""),
            organization_id=entry.get("organization_id"), delivery_point_id=point_id,
            pickup_lat=pickup.get("lat"), pickup_lon=pickup.get("lon"))
        session.add(consignment)
        await session.flush()
        for product_id, line in entry["lines"].items():
            session.add(ConsignmentLine(consignment_id=consignment.id, product_id=product_id, **line))
        created.append(consignment)

    for bag in payload.get("bags") or []:
        if bag.get("consumer_account_id") is None:
            continue
        await session.execute(update(Booking.__table__).where(
            Booking.__table__.c.order_id == str(bag["order_id"]),
            Booking.__table__.c.consumer_account_id.is_(None),
        ).values(consumer_account_id=int(bag["consumer_account_id"])))
    await session.flush()
    return created


def _kg_of_line(line: dict, quantity: Decimal) -> Decimal | None:
    if line.get("kg") is not None:
        return parse_quantity(line["kg"])
    return kg_of(quantity, parse_unit(line["unit"]))


async def get_consignment(*, session: AsyncSession, consignment_id: int,
                          lock: bool = False) -> tuple[Consignment, list[ConsignmentLine]]:
    query = select(Consignment).where(Consignment.id == consignment_id)
    if lock:
        query = query.with_for_update()
    consignment = (await session.execute(query)).scalar_one_or_none()
    if consignment is None:
        raise NotFound(f"consignment {consignment_id} does not exist", code="consignment_not_found",
                       details={"consignment_id": consignment_id})
    lines = list((await session.execute(select(ConsignmentLine).where(
        ConsignmentLine.consignment_id == consignment_id).order_by(ConsignmentLine.product_id))).scalars())
    return consignment, lines


async def list_consignments(*, session: AsyncSession, cycle_id: int | None, point_id: int | None,
                            producer_id: int | None, limit: int, after_id: int | None,
                            visible=None, status: str | None = None,
                            newest_first: bool = False) -> list[tuple[Consignment, list[ConsignmentLine]]]:
    """`visible`: the caller's access clause (services/delivery/access.visible_consignments).
    Oldest first (`after_id`: the last one seen), or newest first (`after_id`: older than that one)."""
    query = select(Consignment).order_by(Consignment.id.desc() if newest_first else Consignment.id).limit(limit + 1)
    if visible is not None:
        query = query.where(visible)
    if cycle_id is not None:
        query = query.where(Consignment.cycle_id == cycle_id)
    if point_id is not None:
        query = query.where(Consignment.delivery_point_id == point_id)
    if producer_id is not None:
        query = query.where(Consignment.producer_id == producer_id)
    if status is not None:
        query = query.where(Consignment.status == status)
    if after_id is not None:
        query = query.where(Consignment.id < after_id if newest_first else Consignment.id > after_id)
    consignments = list((await session.execute(query)).scalars())
    ids = [c.id for c in consignments]
    lines: dict[int, list[ConsignmentLine]] = {i: [] for i in ids}
    if ids:
        for line in (await session.execute(select(ConsignmentLine).where(
                ConsignmentLine.consignment_id.in_(ids)).order_by(ConsignmentLine.product_id))).scalars():
            lines[line.consignment_id].append(line)
    return [(c, lines[c.id]) for c in consignments]


@dataclass(frozen=True)
class ReceivedLine:
    product_id: int
    received_quantity: Decimal
    rejected_quantity: Decimal = Decimal(0)
    reject_reason: str | None = None


def allowed_quantity(*, ordered: Decimal, margin_percent: Decimal) -> Decimal:
    """The most that may be received of a line: what was ordered plus the receiving margin
    (variable-weight goods never weigh exactly what was ordered), to the gram."""
    return (ordered * (1 + Decimal(margin_percent) / 100)).quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)


def checked_receipt(*, consignment_id: int, stored: list[ConsignmentLine], lines: list[ReceivedLine],
                    margin_percent: Decimal) -> dict[int, ReceivedLine]:
    """The receipt's lines by product, refused (422) if unclear or above what was ordered."""
    by_product = {line.product_id: line for line in stored}
    given: dict[int, ReceivedLine] = {}
    for line in lines:
        if line.product_id not in by_product:
            raise InvalidInput(f"product {line.product_id} is not in consignment {consignment_id}",
                               code="unknown_consignment_line",
                               details={"product_id": line.product_id, "products": sorted(by_product)})
        if line.product_id in given:
            raise InvalidInput(f"product {line.product_id} is listed twice; give one line per product",
                               code="duplicate_line", details={"product_id": line.product_id})
        if line.rejected_quantity > line.received_quantity:
            raise InvalidInput(f"product {line.product_id}: rejected {line.rejected_quantity} is more than received "
                               f"{line.received_quantity}", code="rejected_exceeds_received",
                               details={"product_id": line.product_id})
        if line.rejected_quantity > 0 and not (line.reject_reason or "").strip():
            raise InvalidInput(f"product {line.product_id}: say why {line.rejected_quantity} was rejected "
                               "(reject_reason)", code="reject_reason_required",
                               details={"product_id": line.product_id})
        ordered = by_product[line.product_id].quantity
        most = allowed_quantity(ordered=ordered, margin_percent=margin_percent)
        if line.received_quantity > most:
            unit = by_product[line.product_id].unit
            raise InvalidInput(
                f"product {line.product_id}: received {quantity_text(line.received_quantity)} {unit} is more than "
                f"the ordered {quantity_text(ordered)} {unit} (at most {quantity_text(most)} {unit} with the "
                f"{quantity_text(Decimal(margin_percent))} % receiving margin); receive what was ordered and "
                "leave the rest with the producer", code="received_exceeds_ordered",
                details={"product_id": line.product_id, "ordered_quantity": quantity_text(ordered),
                         "max_received_quantity": quantity_text(most), "unit": unit})
        given[line.product_id] = line
    return given


def _record_lines(stored: list[ConsignmentLine], given: dict[int, ReceivedLine]) -> tuple[int, list[dict]]:
    """Write what arrived on the stored lines; returns the accepted total and the event's lines."""
    total = 0
    event_lines = []
    for stored_line in stored:
        got = given.get(stored_line.product_id, ReceivedLine(stored_line.product_id, Decimal(0)))
        accepted = got.received_quantity - got.rejected_quantity
        value = line_value_centavos(quantity=accepted, unit_price_centavos=stored_line.unit_price_centavos)
        stored_line.received_quantity = got.received_quantity
        stored_line.rejected_quantity = got.rejected_quantity
        stored_line.reject_reason = (got.reject_reason or None) if got.rejected_quantity > 0 else None
        stored_line.accepted_value_centavos = value
        total += value
        event_lines.append({
            "product_id": stored_line.product_id, "ordered_quantity": quantity_text(stored_line.quantity),
            "received_quantity": quantity_text(got.received_quantity), "rejected_quantity": quantity_text(got.rejected_quantity),
            "reject_reason": stored_line.reject_reason, "unit": stored_line.unit,
            "unit_price": str(from_centavos(stored_line.unit_price_centavos)),
            "accepted_value": str(from_centavos(value))})
    return total, event_lines


def _receipt_payload(consignment: Consignment, event_lines: list[dict], total: int) -> dict:
    return {"consignment_id": consignment.id, "cycle_id": consignment.cycle_id, "producer_id": consignment.producer_id,
            "organization_id": consignment.organization_id, "delivery_point_id": consignment.delivery_point_id,
            "lines": event_lines, "accepted_value": str(from_centavos(total)),
            "received_at": consignment.received_at.isoformat()}


async def receive_consignment(*, session: AsyncSession, kernel: KernelTables, consignment_id: int,
                              lines: list[ReceivedLine], received_by: int | None, margin_percent: Decimal = Decimal(0),
                              now: datetime | None = None) -> tuple[Consignment, list[ConsignmentLine]]:
    """Record what arrived. Lines left out of `lines` did not arrive (received 0). A consignment is
    received once; a second receiving is a 409 (a mistake is put right by `correct_receipt`)."""
    consignment, stored = await get_consignment(session=session, consignment_id=consignment_id, lock=True)
    if consignment.status == RECEIVED:
        raise Conflict(f"consignment {consignment_id} was already received; receiving is recorded once (the "
                       "cycle's coordinator corrects a receipt with POST /consignments/{id}/corrections)",
                       code="consignment_already_received", details={"consignment_id": consignment_id})
    given = checked_receipt(consignment_id=consignment_id, stored=stored, lines=lines, margin_percent=margin_percent)
    total, event_lines = _record_lines(stored, given)
    consignment.status = RECEIVED
    consignment.accepted_value_centavos = total
    consignment.received_at = now or utcnow()
    consignment.received_by = received_by
    await session.flush()
    await emit(session, kernel, event_type="consignment.delivered", aggregate_id=consignment.id,
               payload=_receipt_payload(consignment, event_lines, total))
    return consignment, stored


def _snapshot(consignment: Consignment, stored: list[ConsignmentLine]) -> dict:
    return {"accepted_value": str(from_centavos(consignment.accepted_value_centavos or 0)),
            "lines": [{"product_id": ln.product_id, "received_quantity": quantity_text(ln.received_quantity or 0),
                       "rejected_quantity": quantity_text(ln.rejected_quantity or 0), "reject_reason": ln.reject_reason,
                       "accepted_value": str(from_centavos(ln.accepted_value_centavos or 0))} for ln in stored]}


async def correct_receipt(*, session: AsyncSession, kernel: KernelTables, payments, consignment_id: int,
                          lines: list[ReceivedLine], reason: str, corrected_by: int | None,
                          margin_percent: Decimal = Decimal(0),
                          now: datetime | None = None) -> tuple[Consignment, list[ConsignmentLine]]:
    """Replace a receipt by a corrected one, keeping the old one on record.

    Payments first holds the producer's receivable (refused, 409, once an advance was drawn on it:
    the financier's money then rests on the old value; or once it is settled); then the new receipt
    is written and `consignment.corrected` tells payments to reverse the old entry and post the new one. A hold left behind by a failed correction only keeps the receivable
    out of advances until the correction is made again.
    """
    consignment, stored = await get_consignment(session=session, consignment_id=consignment_id, lock=True)
    if consignment.status != RECEIVED:
        raise Conflict(f"consignment {consignment_id} has not been received yet; receive it first",
                       code="consignment_not_received", details={"consignment_id": consignment_id})
    given = checked_receipt(consignment_id=consignment_id, stored=stored, lines=lines, margin_percent=margin_percent)
    correction = ConsignmentCorrection(consignment_id=consignment_id, reason=reason.strip(), corrected_by=corrected_by,
                                       corrected_at=now or utcnow(), before=_snapshot(consignment, stored), after={})
    session.add(correction)
    await session.flush()  # its id names the hold and the event
    await payments.call("POST", "/internal/receivables/hold", idempotent=True,
                        json={"consignment_id": consignment_id, "correction_id": correction.id})
    previous_total = consignment.accepted_value_centavos or 0
    total, event_lines = _record_lines(stored, given)
    consignment.accepted_value_centavos = total
    correction.after = _snapshot(consignment, stored)
    await session.flush()
    await emit(session, kernel, event_type="consignment.corrected", aggregate_id=consignment.id, payload={
        **_receipt_payload(consignment, event_lines, total), "correction_id": correction.id,
        "previous_accepted_value": str(from_centavos(previous_total)), "reason": correction.reason,
        "corrected_at": correction.corrected_at.isoformat()})
    return consignment, stored


def readable_producer(*, principal, producer_id: int | None) -> int | None:
    """The producer filter of a listing: a producer account lists only her own (her pick list) and
    says so clearly; what everyone else sees is limited by access.visible_consignments."""
    if principal.role != Role.producer:
        return producer_id
    if principal.producer_id is None:
        raise Forbidden("this producer account is not linked to a producer yet", code="producer_not_linked")
    if producer_id not in (None, principal.producer_id):
        raise Forbidden("a producer sees only her own consignments", code="not_your_consignments",
                        details={"producer_id": producer_id})
    return principal.producer_id
