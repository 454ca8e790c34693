"""Stock reservation for the orders service: reserve, release, commit and adjust order lines.

Rules (docs/internal-api.md):
- A reservation is all-or-nothing: any refused line raises, and the caller's unit of work rolls
  back every line of the request.
- Idempotent by line id: `reservation_lines` is keyed by it, inserted with ON CONFLICT DO NOTHING,
  so a line already known (whatever its status) is never reserved again, even by a concurrent twin.
- Each line moves stock with ONE conditional UPDATE (`available >= :q`), so two buyers can never
  take the same last kilo; a CHECK constraint backs it up. Lines are applied in product-id order,
  so two concurrent multi-line orders lock products in the same order and cannot deadlock.
- `available + reserved + sold` changes only by explicit stock edits, never here. Quantities are
  rounded to three decimals in SQL so SQLite's floating NUMERIC cannot drift.
"""

from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.catalog.models import Producer, Product, ReservationLine, ReservationStatus
from services.common.errors import Conflict, InvalidInput, NotFound
from services.common.money import from_centavos
from services.common.tables import insert_ignoring_conflict, utcnow
from services.common.units import Unit, kg_of

products = Product.__table__
producers = Producer.__table__
reservation_lines = ReservationLine.__table__


@dataclass(frozen=True)
class LineRequest:
    line_id: str
    product_id: int
    quantity: Decimal


def qty_text(value: Decimal) -> str:
    """A quantity as the API writes it: "2.5", "3", "0.125"."""
    value = Decimal(value).quantize(Decimal("0.001")).normalize()
    return format(value, "f")


def _product_details(session: AsyncSession, product_ids: list[int]):
    return session.execute(
        select(products.c.id, products.c.name, products.c.category, products.c.unit, products.c.active,
               products.c.min_order_quantity, products.c.case_size, products.c.price_centavos,
               producers.c.id.label("producer_id"), producers.c.name.label("producer_name"),
               producers.c.gender, producers.c.organization_id, producers.c.municipality_code,
               producers.c.lat, producers.c.lon)
        .join(producers, producers.c.id == products.c.producer_id)
        .where(products.c.id.in_(product_ids))
    )


def _reserved_line(line_id: str, quantity: Decimal, row, price_centavos: int) -> dict:
    unit = Unit(row.unit)
    kg = kg_of(Decimal(1), unit)
    return {
        "line_id": line_id,
        "product_id": row.id,
        "quantity": qty_text(quantity),
        "unit": unit.value,
        "unit_price": f"{from_centavos(price_centavos):.2f}",
        "product_name": row.name,
        "category": row.category,
        "case_size": qty_text(row.case_size) if row.case_size is not None else None,
        "kg_per_unit": qty_text(kg) if kg is not None else None,
        "producer": {
            "id": row.producer_id, "name": row.producer_name, "gender": row.gender,
            "organization_id": row.organization_id, "municipality_code": row.municipality_code,
            "lat": row.lat, "lon": row.lon,
        },
    }


async def reserve_stock(*, session: AsyncSession, order_id: str, lines: list[LineRequest]) -> list[dict]:
    """Reserve every line or none; lines already known by id are answered, not reserved again."""
    if not lines:
        raise InvalidInput("an order needs at least one line to reserve", code="no_lines")
    seen: set[str] = set()
    for line in lines:
        if line.line_id in seen:
            raise InvalidInput(f"line id {line.line_id!r} appears twice in the request",
                               code="duplicate_line_id", details={"line_id": line.line_id})
        seen.add(line.line_id)
        if line.quantity <= 0:
            raise InvalidInput(f"line {line.line_id}: the quantity must be more than zero",
                               code="invalid_quantity", details={"line_id": line.line_id})

    details = {row.id: row for row in await _product_details(session, sorted({ln.product_id for ln in lines}))}
    for line in lines:
        row = details.get(line.product_id)
        if row is None:
            raise NotFound(f"product {line.product_id} does not exist", code="product_not_found",
                           details={"product_id": line.product_id})

    now = utcnow()
    by_line_id = sorted(lines, key=lambda ln: ln.line_id)  # one fixed order for the line-id locks too
    inserted = set((await session.execute(
        insert_ignoring_conflict(session, reservation_lines).values([
            {"line_id": ln.line_id, "order_id": order_id, "product_id": ln.product_id,
             "quantity": ln.quantity, "status": ReservationStatus.reserved.value,
             "created_at": now, "updated_at": now}
            for ln in by_line_id
        ]).returning(reservation_lines.c.line_id)
    )).scalars())

    known = {}
    if len(inserted) < len(lines):
        known = {r.line_id: r for r in await session.execute(
            select(reservation_lines).where(reservation_lines.c.line_id.in_(
                [ln.line_id for ln in lines if ln.line_id not in inserted])))}
        for line_id, r in known.items():
            asked = next(ln for ln in lines if ln.line_id == line_id)
            if r.product_id != asked.product_id:
                raise Conflict(f"line id {line_id} was already used for product {r.product_id}",
                               code="line_id_conflict",
                               details={"line_id": line_id, "product_id": r.product_id})

    for line in lines:
        if line.line_id not in inserted:
            continue
        row = details[line.product_id]
        if not row.active:
            raise Conflict(f"{row.name} is not on sale any more", code="product_inactive",
                           details={"product_id": row.id, "product_name": row.name})
        if line.quantity < row.min_order_quantity:
            raise InvalidInput(
                f"{row.name}: the minimum order is {qty_text(row.min_order_quantity)} {row.unit}",
                code="below_minimum_order",
                details={"product_id": row.id, "product_name": row.name, "requested": qty_text(line.quantity),
                         "minimum": qty_text(row.min_order_quantity), "unit": row.unit})

    prices: dict[str, int] = {}
    for line in sorted(lines, key=lambda ln: (ln.product_id, ln.line_id)):
        if line.line_id not in inserted:
            continue
        moved = (await session.execute(
            update(products)
            .where(products.c.id == line.product_id, products.c.available >= line.quantity,
                   products.c.active.is_(True))
            .values(available=func.round(products.c.available - line.quantity, 3),
                    reserved=func.round(products.c.reserved + line.quantity, 3))
            .returning(products.c.price_centavos)
        )).first()
        if moved is None:
            await _refuse(session, line, details[line.product_id])
        prices[line.line_id] = moved.price_centavos

    answer = []
    for line in lines:
        row = details[line.product_id]
        if line.line_id in inserted:
            answer.append(_reserved_line(line.line_id, line.quantity, row, prices[line.line_id]))
        else:
            answer.append(_reserved_line(line.line_id, known[line.line_id].quantity, row, row.price_centavos))
    return answer


async def _refuse(session: AsyncSession, line: LineRequest, row) -> None:
    current = (await session.execute(
        select(products.c.available, products.c.active).where(products.c.id == line.product_id))).one()
    if not current.active:
        raise Conflict(f"{row.name} is not on sale any more", code="product_inactive",
                       details={"product_id": row.id, "product_name": row.name})
    raise Conflict(
        f"not enough {row.name}: {qty_text(line.quantity)} {row.unit} asked, "
        f"{qty_text(current.available)} {row.unit} available",
        code="stock_insufficient",
        details={"product_id": row.id, "product_name": row.name, "requested": qty_text(line.quantity),
                 "available": qty_text(current.available), "unit": row.unit})


async def _settle(session: AsyncSession, line_ids: list[str], *, to_status: ReservationStatus) -> list[str]:
    """Move reserved lines to released (back to available) or committed (to sold)."""
    if not line_ids:
        return []
    moved = (await session.execute(
        update(reservation_lines)
        .where(reservation_lines.c.line_id.in_(sorted(set(line_ids))),
               reservation_lines.c.status == ReservationStatus.reserved.value)
        .values(status=to_status.value, updated_at=utcnow())
        .returning(reservation_lines.c.line_id, reservation_lines.c.product_id, reservation_lines.c.quantity)
    )).all()
    per_product: dict[int, Decimal] = defaultdict(Decimal)
    for r in moved:
        per_product[r.product_id] += Decimal(r.quantity)
    target = products.c.available if to_status == ReservationStatus.released else products.c.sold
    for product_id in sorted(per_product):
        quantity = per_product[product_id]
        await session.execute(
            update(products).where(products.c.id == product_id)
            .values({target: func.round(target + quantity, 3),
                     products.c.reserved: func.round(products.c.reserved - quantity, 3)}))
    return sorted(r.line_id for r in moved)


async def release_reservations(*, session: AsyncSession, line_ids: list[str]) -> list[str]:
    """Reserved -> available. Unknown, released or committed ids are ignored; answers the ids released now."""
    return await _settle(session, line_ids, to_status=ReservationStatus.released)


async def commit_reservations(*, session: AsyncSession, line_ids: list[str]) -> list[str]:
    """Reserved -> sold. Unknown, released or committed ids are ignored; answers the ids committed now."""
    return await _settle(session, line_ids, to_status=ReservationStatus.committed)


async def adjust_reservation(*, session: AsyncSession, line_id: str, quantity: Decimal) -> dict:
    """Lower a reserved line to `quantity`, returning the difference to available (idempotent)."""
    line = (await session.execute(
        select(reservation_lines).where(reservation_lines.c.line_id == line_id).with_for_update())).first()
    if line is None:
        raise NotFound(f"no reservation for line {line_id}", code="reservation_not_found",
                       details={"line_id": line_id})
    if line.status != ReservationStatus.reserved.value:
        raise Conflict(f"line {line_id} is {line.status}; only reserved lines can be adjusted",
                       code="reservation_not_reserved", details={"line_id": line_id, "status": line.status})
    current = Decimal(line.quantity)
    if quantity > current:
        raise InvalidInput(f"line {line_id} holds {qty_text(current)}; an adjustment can only lower it",
                           code="adjust_cannot_raise",
                           details={"line_id": line_id, "reserved": qty_text(current),
                                    "requested": qty_text(quantity)})
    returned = current - quantity
    if returned:
        await session.execute(update(reservation_lines).where(reservation_lines.c.line_id == line_id)
                              .values(quantity=quantity, updated_at=utcnow()))
        await session.execute(
            update(products).where(products.c.id == line.product_id)
            .values(available=func.round(products.c.available + returned, 3),
                    reserved=func.round(products.c.reserved - returned, 3)))
    return {"line_id": line_id, "product_id": line.product_id, "quantity": qty_text(quantity),
            "returned": qty_text(returned), "status": line.status}
