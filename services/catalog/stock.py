"""Stock reservation for the orders service: reserve, release, commit and adjust order lines.

Rules (docs/internal-api.md):
- A reservation is all-or-nothing: a refused line refuses the order, and whatever the order's
  other lines did is undone in the same transaction (several orders may share one, see below).
- Idempotent by line id: `reservation_lines` is keyed by it, inserted with ON CONFLICT DO NOTHING,
  so a line already known (whatever its status) is never reserved again, even by a concurrent twin.
- Each line moves stock with ONE conditional UPDATE (`available >= :q`), so two buyers can never
  take the same last kilo; a CHECK constraint backs it up. Lines are applied in product-id order,
  so two concurrent multi-line orders lock products in the same order and cannot deadlock.
- `available + reserved + sold` changes only by explicit stock edits, never here. Quantities are
  rounded to three decimals in SQL so SQLite's floating NUMERIC cannot drift.
- Under load, `ReservationBatcher` lets the orders that arrive while a transaction commits share
  the next one (group commit): a hot product's row lock is then held for one disk flush per batch
  instead of one per order. Each order still gets its own answer. One consequence, as if one order
  had reserved and then released: within a batch, an order refused part-way may briefly hold stock
  that another order of the same batch wanted, which is then refused too (never oversold).
"""

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from services.catalog.models import Producer, Product, ReservationLine, ReservationStatus
from services.common.errors import Conflict, DomainError, InvalidInput, NotFound, ServiceUnavailable
from services.common.money import from_centavos
from services.common.tables import insert_ignoring_conflict, utcnow
from services.common.units import Unit, kg_of, quantity_text

products = Product.__table__
producers = Producer.__table__
reservation_lines = ReservationLine.__table__
log = logging.getLogger("mercado.catalog.stock")


@dataclass(frozen=True)
class LineRequest:
    line_id: str
    product_id: int
    quantity: Decimal


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
        "quantity": quantity_text(quantity),
        "unit": unit.value,
        "unit_price": f"{from_centavos(price_centavos):.2f}",
        "product_name": row.name,
        "category": row.category,
        "case_size": quantity_text(row.case_size) if row.case_size is not None else None,
        "kg_per_unit": quantity_text(kg) if kg is not None else None,
        "producer": {
            "id": row.producer_id, "name": row.producer_name, "gender": row.gender,
            "organization_id": row.organization_id, "municipality_code": row.municipality_code,
            "lat": row.lat, "lon": row.lon,
        },
    }


@dataclass
class OrderRequest:
    """One order's reservation request inside a batch; `error` is set when it is refused."""

    order_id: str
    lines: list[LineRequest]
    error: DomainError | None = None
    inserted: set[str] = field(default_factory=set)
    applied: list[LineRequest] = field(default_factory=list)


def _check_shape(lines: list[LineRequest]) -> None:
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


def _check_sellable(line: LineRequest, row) -> None:
    if not row.active:
        raise Conflict(f"{row.name} is not on sale any more", code="product_inactive",
                       details={"product_id": row.id, "product_name": row.name})
    if line.quantity < row.min_order_quantity:
        raise InvalidInput(
            f"{row.name}: the minimum order is {quantity_text(row.min_order_quantity)} {row.unit}",
            code="below_minimum_order",
            details={"product_id": row.id, "product_name": row.name, "requested": quantity_text(line.quantity),
                     "minimum": quantity_text(row.min_order_quantity), "unit": row.unit})


async def reserve_stock(*, session: AsyncSession, order_id: str, lines: list[LineRequest]) -> list[dict]:
    """Reserve every line or none; lines already known by id are answered, not reserved again."""
    [outcome] = await reserve_orders(session=session, orders=[OrderRequest(order_id=order_id, lines=lines)])
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome


async def reserve_orders(*, session: AsyncSession, orders: list[OrderRequest]) -> list[list[dict] | DomainError]:
    """Reserve several orders in one transaction, each all-or-nothing: a refused order's lines are
    undone inside the transaction and its error returned in its place.

    One commit then covers many orders (group commit), while every line is still one conditional
    UPDATE and every product row is locked in ascending id order across the whole batch.
    Line ids must be unique across the batch (the caller defers repeats to a later batch).
    """
    for order in orders:
        try:
            _check_shape(order.lines)
        except DomainError as exc:
            order.error = exc
    live = [o for o in orders if o.error is None]
    product_ids = sorted({ln.product_id for o in live for ln in o.lines})
    details = {row.id: row for row in await _product_details(session, product_ids)} if product_ids else {}
    for order in live:
        missing = next((ln.product_id for ln in order.lines if ln.product_id not in details), None)
        if missing is not None:
            order.error = NotFound(f"product {missing} does not exist", code="product_not_found",
                                   details={"product_id": missing})
    live = [o for o in live if o.error is None]

    now = utcnow()
    wanted = sorted(((ln, o) for o in live for ln in o.lines), key=lambda pair: pair[0].line_id)
    inserted: set[str] = set()
    if wanted:  # line-id locks in one fixed order too
        # executemany form: one cached statement whatever the number of lines (batched VALUES)
        inserted = set((await session.execute(
            insert_ignoring_conflict(session, reservation_lines).returning(reservation_lines.c.line_id),
            [{"line_id": ln.line_id, "order_id": o.order_id, "product_id": ln.product_id,
              "quantity": ln.quantity, "status": ReservationStatus.reserved.value,
              "created_at": now, "updated_at": now}
             for ln, o in wanted],
        )).scalars())
    known_ids = [ln.line_id for ln, _ in wanted if ln.line_id not in inserted]
    known = {}
    if known_ids:
        known = {r.line_id: r for r in await session.execute(
            select(reservation_lines).where(reservation_lines.c.line_id.in_(known_ids)))}
    for order in live:
        order.inserted = {ln.line_id for ln in order.lines if ln.line_id in inserted}
        try:
            for line in order.lines:
                if line.line_id in known and known[line.line_id].product_id != line.product_id:
                    used = known[line.line_id].product_id
                    raise Conflict(f"line id {line.line_id} was already used for product {used}",
                                   code="line_id_conflict", details={"line_id": line.line_id, "product_id": used})
                if line.line_id in order.inserted:
                    _check_sellable(line, details[line.product_id])
        except DomainError as exc:
            order.error = exc

    prices: dict[str, int] = {}
    moves = sorted(((ln, o) for o in live if o.error is None for ln in o.lines if ln.line_id in o.inserted),
                   key=lambda pair: (pair[0].product_id, pair[0].line_id))
    if moves and session.bind.dialect.name == "postgresql":
        # the same per-line conditional UPDATEs, in the same order, run by one server-side function
        # (migration 25554f741597) so a batch of lines costs one round trip instead of one each
        taken = dict((await session.execute(
            text("SELECT line_id, price_centavos FROM catalog_take_stock(:line_ids, :product_ids, :quantities)"),
            {"line_ids": [ln.line_id for ln, _ in moves], "product_ids": [ln.product_id for ln, _ in moves],
             "quantities": [ln.quantity for ln, _ in moves]})).all())
        for line, order in moves:
            if line.line_id in taken:
                order.applied.append(line)
                prices[line.line_id] = taken[line.line_id]
            elif order.error is None:
                order.error = await _refusal(session, line, details[line.product_id])
    else:
        for line, order in moves:
            if order.error is not None:
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
                order.error = await _refusal(session, line, details[line.product_id])
                continue
            order.applied.append(line)
            prices[line.line_id] = moved.price_centavos

    for order in live:
        if order.error is not None:
            await _undo(session, order)

    outcomes: list[list[dict] | DomainError] = []
    for order in orders:
        if order.error is not None:
            outcomes.append(order.error)
            continue
        answer = []
        for line in order.lines:
            row = details[line.product_id]
            if line.line_id in order.inserted:
                answer.append(_reserved_line(line.line_id, line.quantity, row, prices[line.line_id]))
            else:
                answer.append(_reserved_line(line.line_id, known[line.line_id].quantity, row, row.price_centavos))
        outcomes.append(answer)
    return outcomes


async def _undo(session: AsyncSession, order: OrderRequest) -> None:
    """Take back what a refused order did in this transaction (its rows are already locked by us)."""
    for line in sorted(order.applied, key=lambda ln: (ln.product_id, ln.line_id)):
        await session.execute(
            update(products).where(products.c.id == line.product_id)
            .values(available=func.round(products.c.available + line.quantity, 3),
                    reserved=func.round(products.c.reserved - line.quantity, 3)))
    order.applied = []
    if order.inserted:
        await session.execute(delete(reservation_lines).where(reservation_lines.c.line_id.in_(order.inserted)))


async def _refusal(session: AsyncSession, line: LineRequest, row) -> DomainError:
    current = (await session.execute(
        select(products.c.available, products.c.active).where(products.c.id == line.product_id))).one()
    if not current.active:
        return Conflict(f"{row.name} is not on sale any more", code="product_inactive",
                        details={"product_id": row.id, "product_name": row.name})
    return Conflict(
        f"not enough {row.name}: {quantity_text(line.quantity)} {row.unit} asked, "
        f"{quantity_text(current.available)} {row.unit} available",
        code="stock_insufficient",
        details={"product_id": row.id, "product_name": row.name, "requested": quantity_text(line.quantity),
                 "available": quantity_text(current.available), "unit": row.unit})


class ReservationBatcher:
    """Groups concurrent reservation requests of one process into shared transactions.

    A hot product's row lock is held until its transaction's commit is on disk; with one commit per
    order, throughput on that product is one order per disk flush. Here, requests that arrive while a
    batch is committing wait for the next batch, so one flush covers many orders. Each order keeps
    its own all-or-nothing answer (see `reserve_orders`).
    """

    def __init__(self, db, *, max_orders: int = 200, attempts: int = 3):
        self.db = db
        self.max_orders = max_orders
        self.attempts = attempts
        self.pending: list[tuple[OrderRequest, asyncio.Future]] = []
        self.drainer: asyncio.Task | None = None

    async def reserve(self, *, order_id: str, lines: list[LineRequest]) -> list[dict]:
        _check_shape(lines)
        future = asyncio.get_running_loop().create_future()
        self.pending.append((OrderRequest(order_id=order_id, lines=lines), future))
        if self.drainer is None or self.drainer.done():
            self.drainer = asyncio.create_task(self._drain())
        return await future

    def _next_batch(self) -> list[tuple[OrderRequest, asyncio.Future]]:
        batch, rest, ids = [], [], set()
        for item in self.pending:
            line_ids = {ln.line_id for ln in item[0].lines}
            if len(batch) < self.max_orders and not (line_ids & ids):
                batch.append(item)
                ids |= line_ids
            else:
                rest.append(item)  # a repeat of a line id waits for the batch that holds it
        self.pending = rest
        return batch

    async def _run(self, orders: list[OrderRequest]) -> list[list[dict] | DomainError]:
        """One transaction for the batch; retried when the database aborts it (deadlock with another
        process, lost connection): it rolled back whole, and line ids make the retry safe."""
        for attempt in range(self.attempts):
            for order in orders:
                order.error, order.inserted, order.applied = None, set(), []
            try:
                async with self.db.session() as session:
                    return await reserve_orders(session=session, orders=orders)
            except DBAPIError:
                log.warning("reservation batch aborted by the database", exc_info=True,
                            extra={"attempt": attempt + 1, "orders": len(orders)})
                await asyncio.sleep(0.01 * 2**attempt)
        raise ServiceUnavailable("stock could not be reserved right now; retry with the same line ids",
                                 code="reservation_retry")

    async def _drain(self) -> None:
        while self.pending:
            batch = self._next_batch()
            try:
                outcomes = await self._run([order for order, _ in batch])
            except Exception as exc:  # the whole transaction failed: every order in it is told
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), outcome in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if isinstance(outcome, DomainError):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)


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
        raise InvalidInput(f"line {line_id} holds {quantity_text(current)}; an adjustment can only lower it",
                           code="adjust_cannot_raise",
                           details={"line_id": line_id, "reserved": quantity_text(current),
                                    "requested": quantity_text(quantity)})
    returned = current - quantity
    if returned:
        await session.execute(update(reservation_lines).where(reservation_lines.c.line_id == line_id)
                              .values(quantity=quantity, updated_at=utcnow()))
        await session.execute(
            update(products).where(products.c.id == line.product_id)
            .values(available=func.round(products.c.available + returned, 3),
                    reserved=func.round(products.c.reserved - returned, 3)))
    return {"line_id": line_id, "product_id": line.product_id, "quantity": quantity_text(quantity),
            "returned": quantity_text(returned), "status": line.status}
