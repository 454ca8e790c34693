"""Placing an order: the reservation saga, its compensation, cancellation and crash recovery.

Placement is a saga over two other services. The order is first committed as `pending` with its
line ids (`<order id>-<n>`), so whatever happens next can be undone by id:
1. reserve every line in catalog (all-or-nothing, idempotent by line id);
2. hold a slot at the delivery point, then confirm it (delivery answers the pickup code);
3. snapshot prices and fees, mark the order `placed` and emit `order.placed`, in one transaction.
An order that accepts waiting (`wait_if_full`) at a full point becomes `waitlisted` in step 3 instead,
its stock kept reserved (services/orders/waitlist.py says how it is promoted, moved or cancelled).
When a step fails or its outcome is unknown (a timeout), the order becomes `failed` and its lines
and slot are released (both idempotent). If the process dies mid-way, `recover_orders` finds the
order still `pending` after a while and compensates it the same way.

The order row keeps the consumer's Idempotency-Key, written in the pending order's transaction (the
kernel's middleware leaves this endpoint alone): a repeat answers the same order, even after a crash;
another body under the key is refused (422); a repeat while the first is running gets 409
`idempotency_in_progress`. A failed placement frees its key, so a retry really tries again.
"""

import hashlib
import logging
from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace

import orjson
from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal, Role
from services.common.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    ServiceUnavailable,
)
from services.common.events import emit
from services.common.money import apply_rate, from_centavos, to_centavos
from services.common.tables import insert_ignoring_conflict, utcnow
from services.common.units import quantity_text
from services.orders import placement_statements
from services.orders.cycles import aware, expand_baskets, is_due, load_cycle
from services.orders.fees import PricedLine, compute_fees, line_kg
from services.orders.models import ACTIVE_ORDER_STATUSES, cycles, order_lines, orders
from services.orders.order_events import cancelled_payload, line_ids_of, placed_payload, promoted_payload
from services.orders.waitlist import (
    WAITLISTED,
    close_cycle,
    early_promotion_code,
    emit_waitlisted,
    point_full_error,
    waitlist_position,
)

log = logging.getLogger("mercado.orders")

ACTIVE = ACTIVE_ORDER_STATUSES
NEXT_STATUS = {"placed": {"packed"}, "packed": {"ready"}, "ready": {"picked_up", "no_show"}}


def _request_hash(payload: dict) -> str:
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()


MAX_LINES = 200


def _own_lines(body) -> list[dict]:
    return [{"product_id": line.product_id, "quantity": line.quantity, "tolerance": line.tolerance,
             "basket_id": None} for line in body.lines]


async def requested_lines(*, session: AsyncSession, cycle, body) -> list[dict]:
    """The order's lines: its own, then its agrobolsas expanded; checked against the cycle's offer."""
    lines = _own_lines(body) + await expand_baskets(session=session, cycle_id=cycle.id, picks=body.baskets)
    if len(lines) > MAX_LINES:
        raise InvalidInput(f"an order has at most {MAX_LINES} lines", code="too_many_lines")
    if cycle.product_ids is not None:
        offered = set(cycle.product_ids)
        outside = sorted({line["product_id"] for line in lines} - offered)
        if outside:
            raise InvalidInput(f"products not offered in this cycle: {', '.join(map(str, outside))}",
                               code="product_not_offered", details={"product_ids": outside})
    return lines


def cycle_closed_error(cycle) -> Conflict:
    return Conflict(f"cycle {cycle.id} closed at {aware(cycle.closes_at).isoformat()}; it takes no more orders",
                    code="cycle_closed", details={"cycle_id": cycle.id, "status": "closed"})


async def check_cycle_accepts_orders(*, session: AsyncSession, cycle_id: int, point_id: int):
    cycle = await load_cycle(session=session, cycle_id=cycle_id)
    refuse_unless_accepting(cycle=cycle, point_id=point_id)
    return cycle


def refuse_unless_accepting(*, cycle, point_id: int) -> None:
    """The refusal when the cycle takes no orders now, or not at this point."""
    cycle_id = cycle.id
    if is_due(cycle):
        raise cycle_closed_error(cycle)
    if cycle.status != "open":
        code = "cycle_not_open" if cycle.status == "draft" else "cycle_closed"
        raise Conflict(f"cycle {cycle_id} is {cycle.status}; orders are taken only while it is open",
                       code=code, details={"cycle_id": cycle_id, "status": cycle.status})
    if aware(cycle.opens_at) > utcnow():
        raise Conflict(f"cycle {cycle_id} opens at {aware(cycle.opens_at).isoformat()}", code="cycle_not_open",
                       details={"cycle_id": cycle_id, "opens_at": aware(cycle.opens_at).isoformat()})
    if point_id not in cycle.point_ids:
        raise InvalidInput(f"delivery point {point_id} does not serve cycle {cycle_id}; choose one of "
                           f"{cycle.point_ids}", code="point_not_in_cycle",
                           details={"delivery_point_id": point_id, "cycle_point_ids": cycle.point_ids})


async def place_order(*, db, kernel, clients, principal: Principal, body, idempotency_key: str | None) -> dict:
    payload = body.model_dump(mode="json")
    digest = _request_hash(payload)
    begun = await _begin_standalone(db=db, principal=principal, body=body, payload=payload, digest=digest,
                                    key=idempotency_key)
    if begun is None:
        begun = await _begin(db=db, kernel=kernel, principal=principal, body=body, payload=payload, digest=digest,
                             key=idempotency_key)
    if isinstance(begun, dict):  # a repeat, answered
        return begun
    cycle, lines, order_id, now = begun
    capacity = cycle.point_capacity.get(str(body.delivery_point_id))
    try:
        return await _run_saga(db=db, kernel=kernel, clients=clients, order_id=order_id, cycle=cycle,
                               point_id=body.delivery_point_id, capacity=capacity, lines=lines,
                               principal=principal, created_at=now, wait_if_full=body.wait_if_full)
    except BaseException as exc:
        await fail_and_compensate(db=db, clients=clients, order_id=order_id, line_count=len(lines), reason=exc)
        if isinstance(exc, DomainError) and exc.code == "point_full":
            raise await point_full_error(delivery=clients["delivery"], cycle=cycle,
                                         point_id=body.delivery_point_id) from None
        raise _as_client_error(exc) from None


def _pending_values(*, principal: Principal, body, key: str | None, digest: str, payload: dict,
                    lines: list[dict], now) -> dict:
    return dict(cycle_id=body.cycle_id, consumer_account_id=principal.account_id, consumer_name=principal.name[:200],
                delivery_point_id=body.delivery_point_id, status="pending", idempotency_key=key,
                request_hash=digest, request=payload, line_count=len(lines), fees=[], created_at=now, updated_at=now)


async def _begin_standalone(*, db, principal: Principal, body, payload: dict, digest: str, key: str | None):
    """The pending order in standalone statements (PostgreSQL's usual case): (cycle, lines, order
    id, created at); None, with nothing written, for anything the session path must answer."""
    if body.baskets or len(body.lines) > MAX_LINES:
        return None
    lines = _own_lines(body)
    async with db.standalone() as statements:
        if statements is None:
            return None
        now = utcnow()
        cycle, order_id = await placement_statements.insert_pending(
            statements, product_ids=sorted({line["product_id"] for line in lines}), values=_pending_values(
                principal=principal, body=body, key=key, digest=digest, payload=payload, lines=lines, now=now))
        if order_id is None:
            return None
        try:  # the statement applies these rules itself; should it ever let through what they refuse
            refuse_unless_accepting(cycle=cycle, point_id=body.delivery_point_id)
            await requested_lines(session=None, cycle=cycle, body=body)
        except DomainError:
            await placement_statements.abandon_pending(statements, order_id=order_id, now=now)
            return None
    return cycle, lines, order_id, now


async def _begin(*, db, kernel, principal: Principal, body, payload: dict, digest: str, key: str | None):
    """The pending order in a session: (cycle, lines, order id, created at), or the answer to a
    repeat of the key; refusals are raised."""
    async with db.session() as session:
        cycle = late = await load_cycle(session=session, cycle_id=body.cycle_id)
        refusal: DomainError | None = None
        if not is_due(cycle):
            late = None
            try:
                refuse_unless_accepting(cycle=cycle, point_id=body.delivery_point_id)
                lines = await requested_lines(session=session, cycle=cycle, body=body)
            except DomainError as exc:
                refusal = exc
        if (late is not None or refusal is not None) and key:
            # a repeat of an order placed before the cycle closed (or before its offer changed) answers it
            answer = await _answer_repeat(session=session, principal=principal, key=key, digest=digest)
            if answer is not None:
                return answer
        if refusal is not None:
            raise refusal
        if late is not None:
            # an order arriving after closes_at closes the cycle (committed with this unit of work)
            await close_cycle(session=session, kernel=kernel, cycle_id=late.id)
        else:
            now = utcnow()
            order_id = await _insert_pending(session=session, values=_pending_values(
                principal=principal, body=body, key=key, digest=digest, payload=payload, lines=lines, now=now))
            if order_id is None:  # the key is this consumer's order already: the repeat gets its answer
                answer = await _answer_repeat(session=session, principal=principal, key=key, digest=digest)
                if answer is not None:
                    return answer
                raise Conflict("this order is being placed; retry shortly", code="idempotency_in_progress",
                               headers={"Retry-After": "1"})
    if late is not None:
        raise cycle_closed_error(late)
    return cycle, lines, order_id, now


async def _answer_repeat(*, session: AsyncSession, principal: Principal, key: str, digest: str) -> dict | None:
    """The answer to a repeat of this consumer's Idempotency-Key: the order it placed, a refusal when
    the body differs or the first is still running; None when the key is not (or no longer) used."""
    existing = (await session.execute(select(orders).where(
        orders.c.consumer_account_id == principal.account_id, orders.c.idempotency_key == key))).first()
    if existing is None:
        return None
    if existing.request_hash != digest:
        raise InvalidInput("this Idempotency-Key was already used for another order; use a new key",
                           code="idempotency_key_reused")
    if existing.status == "pending":
        raise Conflict("this order is still being placed; retry shortly", code="idempotency_in_progress",
                       headers={"Retry-After": "1"})
    return await order_view(session=session, order_id=existing.id)


async def _insert_pending(*, session: AsyncSession, values: dict) -> int | None:
    """Insert the pending order; None when this consumer's Idempotency-Key is taken (the first order
    with it, or a concurrent twin that committed first: PostgreSQL waits for the twin to end)."""
    return (await session.execute(insert_ignoring_conflict(session, orders).values(**values)
                                  .returning(orders.c.id))).scalar_one_or_none()


def _as_client_error(exc: BaseException) -> BaseException:
    """Upstream refusals keep their code and details; upstream misconfiguration is a 503."""
    if not isinstance(exc, DomainError) or isinstance(exc, ServiceUnavailable):
        return exc
    if exc.code == "stock_insufficient":
        d = exc.details
        name = d.get("product_name", f"product {d.get('product_id')}")
        return Conflict(f"not enough {name}: asked {d.get('requested')} {d.get('unit', '')}, "
                        f"{d.get('available')} {d.get('unit', '')} left".replace("  ", " "),
                        code="stock_insufficient", details=d)
    if exc.code == "product_not_found":
        return InvalidInput(exc.message, code="product_not_found", details=exc.details)
    if exc.status in (401, 403):
        return ServiceUnavailable("an internal call was refused; the service is misconfigured",
                                  details={"upstream_code": exc.code})
    return exc


async def _run_saga(*, db, kernel, clients, order_id: int, cycle, point_id: int, capacity,
                    lines: list[dict], principal: Principal, created_at, wait_if_full: bool = False) -> dict:
    catalog, delivery = clients["catalog"], clients["delivery"]
    cycle_id = cycle.id
    ids = line_ids_of(order_id, len(lines))
    # The callees are idempotent by line id and order id, and answer only after their commit, so the
    # calls are retried on a dropped connection without Idempotency-Key bookkeeping.
    reserved = await catalog.call("POST", "/internal/reservations", idempotent=True, json={
        "order_id": str(order_id),
        "lines": [{"line_id": lid, "product_id": line["product_id"],
                   "quantity": quantity_text(line["quantity"] + line["tolerance"])}
                  for lid, line in zip(ids, lines, strict=True)]})
    waitlist_seq = None
    try:
        confirmed = await delivery.call("POST", "/internal/bookings", idempotent=True, json={
            "order_id": str(order_id), "point_id": point_id, "cycle_id": cycle_id, "capacity": capacity,
            "consumer_account_id": principal.account_id, "confirm": True, "wait_if_full": wait_if_full})
    except DomainError as exc:
        waitlist_seq = exc.details.get("waitlist_id") if exc.code == "point_full" and wait_if_full else None
        if not isinstance(waitlist_seq, int):
            raise
        confirmed = {}
    rows, priced = _order_rows(order_id=order_id, cycle_id=cycle_id, point_id=point_id, ids=ids, lines=lines,
                               reserved=reserved)
    if waitlist_seq is None:
        answer = await _finish_standalone(db=db, cycle=cycle, order_id=order_id, point_id=point_id, rows=rows,
                                          priced=priced, principal=principal, code=confirmed.get("pickup_code"),
                                          created_at=created_at)
        if answer is not None:
            return answer
    status = "placed" if waitlist_seq is None else WAITLISTED
    async with db.session() as session:
        cycle = await load_cycle(session=session, cycle_id=cycle_id, lock="share")
        if cycle.status != "open" or is_due(cycle):
            raise _closed_while_placing(cycle_id)
        fees = compute_fees(rules=cycle.fee_rules, lines=priced)
        now = utcnow()
        code = confirmed.get("pickup_code")
        if waitlist_seq is not None:
            # a slot may have freed already: delivery promoted the booking and left its code here
            code = await early_promotion_code(session=session, order_id=order_id)
            status = WAITLISTED if code is None else "placed"
        # the answer is built from what is written here (no re-read on the hot path)
        placed = _placed_order(order_id=order_id, cycle_id=cycle_id, principal=principal, point_id=point_id,
                               status=status, code=code, subtotal=sum(p.line_total for p in priced), fees=fees,
                               created_at=created_at, placed_at=now if status == "placed" else None)
        await session.execute(insert(order_lines), rows)
        result = await session.execute(update(orders).where(orders.c.id == order_id, orders.c.status == "pending")
                                       .values(status=status, pickup_code=code, waitlist_seq=waitlist_seq,
                                               subtotal=placed.subtotal, fees=fees, fees_total=placed.fees_total,
                                               total=placed.total, placed_at=placed.placed_at, updated_at=now))
        if result.rowcount != 1:
            raise _abandoned_while_placing()
        position = None
        if status == "placed":
            await emit(session, kernel, event_type="order.placed", aggregate_id=order_id,
                       payload=placed_payload(order=placed, lines=rows, placed_at=now,
                                              delivery_date=cycle.delivery_date))
            if waitlist_seq is not None:
                await emit(session, kernel, event_type="order.promoted", aggregate_id=order_id,
                           payload=promoted_payload(order=placed, pickup_code=code, reason="slot_freed",
                                                    placed_at=now, delivery_date=cycle.delivery_date))
        else:
            position = await emit_waitlisted(session=session, kernel=kernel, order_id=order_id)
    return _order_dict(placed, [SimpleNamespace(allocated_quantity=None, **r) for r in rows], position=position)


def _order_rows(*, order_id: int, cycle_id: int, point_id: int, ids: list[str], lines: list[dict],
                reserved: dict) -> tuple[list[dict], list[PricedLine]]:
    """The order's line rows, priced as catalog reserved them, and their priced lines for the fees."""
    by_line = {item["line_id"]: item for item in reserved.get("lines", [])}
    rows, priced = [], []
    for position, (lid, line) in enumerate(zip(ids, lines, strict=True), start=1):
        info = by_line.get(lid)
        if info is None:
            raise ServiceUnavailable("catalog did not confirm every line", details={"line_id": lid})
        producer = info.get("producer") or {}
        price = to_centavos(info["unit_price"])
        total = apply_rate(price, line["quantity"])
        kg_per_unit = Decimal(str(info["kg_per_unit"])) if info.get("kg_per_unit") is not None else None
        case_size = Decimal(str(info["case_size"])) if info.get("case_size") is not None else None
        rows.append(dict(
            order_id=order_id, line_id=lid, position=position, cycle_id=cycle_id, delivery_point_id=point_id,
            basket_id=line["basket_id"], product_id=line["product_id"], product_name=info["product_name"],
            category=info.get("category"), unit=info["unit"], unit_price=price,
            quantity=line["quantity"], tolerance=line["tolerance"] if case_size else Decimal(0),
            line_total=total, case_size=case_size, kg_per_unit=kg_per_unit,
            producer_id=producer["id"], producer_name=producer.get("name", ""),
            producer_gender=producer.get("gender"), organization_id=producer.get("organization_id"),
            municipality_code=producer.get("municipality_code"), producer_lat=producer.get("lat"),
            producer_lon=producer.get("lon")))
        priced.append(PricedLine(quantity=line["quantity"], line_total=total,
                                 kg=line_kg(quantity=line["quantity"], unit=info["unit"], kg_per_unit=kg_per_unit)))
    return rows, priced


def _placed_order(*, order_id: int, cycle_id: int, principal: Principal, point_id: int, status: str, code,
                  subtotal: int, fees: list[dict], created_at, placed_at) -> SimpleNamespace:
    fees_total = sum(f["amount"] for f in fees)
    return SimpleNamespace(
        id=order_id, cycle_id=cycle_id, consumer_account_id=principal.account_id, delivery_point_id=point_id,
        status=status, pickup_code=code, subtotal=subtotal, fees=fees, fees_total=fees_total,
        total=subtotal + fees_total, paid=False, adjustments=None, created_at=created_at, placed_at=placed_at)


async def _finish_standalone(*, db, cycle, order_id: int, point_id: int, rows: list[dict],
                             priced: list[PricedLine], principal: Principal, code, created_at) -> dict | None:
    """The placed order in one standalone statement (PostgreSQL's usual case), priced with the fee
    rules read when it began; None, with nothing written, when the cycle changed meanwhile (the
    session path then prices it with the rules of now)."""
    async with db.standalone() as statements:
        if statements is None:
            return None
        fees = compute_fees(rules=cycle.fee_rules, lines=priced)
        now = utcnow()
        placed = _placed_order(order_id=order_id, cycle_id=cycle.id, principal=principal, point_id=point_id,
                               status="placed", code=code, subtotal=sum(p.line_total for p in priced), fees=fees,
                               created_at=created_at, placed_at=now)
        outcome = await placement_statements.mark_placed(statements, order=placed, rows=rows, now=now,
                                                         delivery_date=cycle.delivery_date, fee_rules=cycle.fee_rules)
    if outcome == "cycle_changed":
        return None
    if outcome == "cycle_closed":
        raise _closed_while_placing(cycle.id)
    if outcome == "order_abandoned":
        raise _abandoned_while_placing()
    return _order_dict(placed, [SimpleNamespace(allocated_quantity=None, **r) for r in rows])


def _closed_while_placing(cycle_id: int) -> Conflict:
    return Conflict(f"cycle {cycle_id} closed while the order was being placed", code="cycle_closed",
                    details={"cycle_id": cycle_id, "status": "closed"})


def _abandoned_while_placing() -> Conflict:
    return Conflict("this order was abandoned while it was being placed; place it again", code="order_abandoned")


async def release_everything(*, clients, order_id: int, line_count: int, attempt: str = "saga") -> bool:
    """Give back stock and slot of an order (both calls idempotent). True when both answered.

    `attempt` names the try in the Idempotency-Keys: a later release (recovery) must really run
    again, not be answered from the stored reply of the first one."""
    ok = True
    ids = line_ids_of(order_id, line_count)
    try:
        if ids:
            await clients["catalog"].call("POST", "/internal/reservations/release", json={"line_ids": ids},
                                          idempotency_key=f"order-{order_id}-release-stock-{attempt}")
    except Exception as exc:
        ok = False
        log.warning("stock release failed; recovery will retry", extra={"order_id": order_id, "error": repr(exc)})
    try:
        await clients["delivery"].call("POST", f"/internal/bookings/{order_id}/release",
                                       idempotency_key=f"order-{order_id}-release-slot-{attempt}")
    except Exception as exc:
        ok = False
        log.warning("slot release failed; recovery will retry", extra={"order_id": order_id, "error": repr(exc)})
    return ok


async def fail_and_compensate(*, db, clients, order_id: int, line_count: int, reason: BaseException) -> None:
    """Mark a pending order failed (freeing its idempotency key), then release what it held."""
    failure = {"code": getattr(reason, "code", type(reason).__name__),
               "message": getattr(reason, "message", str(reason))[:500]}
    try:
        async with db.session() as session:
            await session.execute(update(orders).where(orders.c.id == order_id, orders.c.status == "pending")
                                  .values(status="failed", idempotency_key=None, pickup_code=None, failure=failure,
                                          updated_at=utcnow()))
    except Exception:
        log.exception("could not mark order %s failed; recovery will compensate it", order_id)
        return
    released = await release_everything(clients=clients, order_id=order_id, line_count=line_count)
    # After a refusal nothing can still be on its way. After a timeout or a dead connection the
    # reservation may still land after this release: leave the order owed, so recovery releases
    # it once more when the unknown call is long over.
    definite = isinstance(reason, DomainError) and reason.status < 500
    if released and definite:
        async with db.session() as session:
            await session.execute(update(orders).where(orders.c.id == order_id).values(released_at=utcnow()))


async def recover_orders(*, db, clients, pending_older_than: float) -> int:
    """Compensate orders a crash left behind: pending too long, or failed/cancelled and not known
    to be released (a failed call, or an unknown outcome) for as long."""
    cutoff = utcnow() - timedelta(seconds=pending_older_than)
    async with db.session() as session:
        stale = (await session.execute(select(orders.c.id).where(
            orders.c.status == "pending", orders.c.created_at < cutoff).limit(500))).scalars().all()
        if stale:
            # updated_at stays: the placement has been silent for long enough to release right away
            await session.execute(update(orders).where(orders.c.id.in_(stale), orders.c.status == "pending")
                                  .values(status="failed", idempotency_key=None, pickup_code=None,
                                          failure={"code": "abandoned", "message": "placement did not finish"}))
        owed = (await session.execute(select(orders.c.id, orders.c.line_count).where(
            orders.c.status.in_(("failed", "cancelled")), orders.c.released_at.is_(None),
            orders.c.updated_at < cutoff).limit(500))).all()
    return await _release_owed(db=db, clients=clients, owed=owed, attempt="recovery")


async def release_cancelled(*, db, clients, cycle_id: int) -> int:
    """Give back stock and slot of the cycle's cancelled orders not yet known released (the waiting
    orders cancelled at close): nothing of a cancelled order can still be on its way, so no wait."""
    async with db.session() as session:
        owed = (await session.execute(select(orders.c.id, orders.c.line_count).where(
            orders.c.cycle_id == cycle_id, orders.c.status == "cancelled",
            orders.c.released_at.is_(None)).limit(5000))).all()
    return await _release_owed(db=db, clients=clients, owed=owed, attempt="closed")


async def _release_owed(*, db, clients, owed, attempt: str) -> int:
    """Release stock and slot of each (order id, line count) and mark the order released once both
    gave them back; an order whose release fails stays owed for the next pass. Returns how many."""
    done = 0
    for order_id, line_count in owed:
        if await release_everything(clients=clients, order_id=order_id, line_count=line_count,
                                    attempt=f"{attempt}-{utcnow().timestamp():.0f}"):
            async with db.session() as session:
                await session.execute(update(orders).where(orders.c.id == order_id).values(released_at=utcnow()))
            done += 1
    return done


async def cancel_order(*, db, kernel, clients, principal: Principal, order_id: int, reason: str) -> dict:
    """Cancel until the cycle closes: mark cancelled and emit order.cancelled, then release stock and slot.
    A waiting order is cancelled the same way (its release frees no slot: it held none)."""
    async with db.session() as session:
        order = await _load_order(session=session, order_id=order_id)
        cycle = await load_cycle(session=session, cycle_id=order.cycle_id, lock="share")
        if not (principal.is_admin or order.consumer_account_id == principal.account_id
                or (principal.role == Role.coordinator and cycle.coordinator_account_id == principal.account_id)):
            raise Forbidden("this order is not yours", code="not_your_order")
        if order.status == "cancelled":
            return await order_view(session=session, order_id=order_id)
        if cycle.status != "open" or is_due(cycle):
            raise Conflict("the cycle has closed; orders can no longer be cancelled", code="cycle_closed",
                           details={"cycle_id": cycle.id})
        if order.status not in ("placed", WAITLISTED):
            raise Conflict(f"a {order.status} order cannot be cancelled", code="order_not_cancellable")
        result = await session.execute(update(orders).where(orders.c.id == order_id,
                                                            orders.c.status == order.status)
                                       .values(status="cancelled", updated_at=utcnow()))
        if result.rowcount != 1:
            raise Conflict("the order changed while it was being cancelled (it got a slot); try again",
                           code="order_changed")
        await emit(session, kernel, event_type="order.cancelled", aggregate_id=order_id,
                   payload=cancelled_payload(order=order, reason=reason))
    if await release_everything(clients=clients, order_id=order_id, line_count=order.line_count, attempt="cancel"):
        async with db.session() as session:
            await session.execute(update(orders).where(orders.c.id == order_id).values(released_at=utcnow()))
    async with db.session() as session:
        return await order_view(session=session, order_id=order_id)


async def change_status(*, session: AsyncSession, principal: Principal, order_id: int, status: str) -> dict:
    """Coordinators move an order along placed -> packed -> ready -> picked_up | no_show."""
    order = await _load_order(session=session, order_id=order_id)
    cycle = await load_cycle(session=session, cycle_id=order.cycle_id)
    if not (principal.is_admin or cycle.coordinator_account_id == principal.account_id):
        raise Forbidden("only the cycle's coordinator moves its orders", code="not_your_cycle")
    await set_status(session=session, order_id=order_id, status=status)
    return await order_view(session=session, order_id=order_id)


async def set_status(*, session: AsyncSession, order_id: int, status: str, strict: bool = True) -> bool:
    order = await _load_order(session=session, order_id=order_id)
    if order.status == status:
        return False
    allowed = NEXT_STATUS.get(order.status, set())
    if status in ("picked_up", "no_show") and order.status in ("placed", "packed"):
        allowed = allowed | {status}  # pickup confirmed at the point settles it whatever packing said
    if status not in allowed:
        if strict:
            raise Conflict(f"a {order.status} order cannot become {status}", code="invalid_transition",
                           details={"from": order.status, "to": status})
        return False
    await session.execute(update(orders).where(orders.c.id == order_id).values(status=status, updated_at=utcnow()))
    return True


async def _load_order(*, session: AsyncSession, order_id: int):
    row = (await session.execute(select(orders).where(orders.c.id == order_id))).first()
    if row is None:
        raise NotFound(f"order {order_id} not found", code="order_not_found")
    return row


def _order_dict(order, lines, position: int | None = None) -> dict:
    return {
        "id": order.id, "cycle_id": order.cycle_id, "consumer_account_id": order.consumer_account_id,
        "delivery_point_id": order.delivery_point_id, "status": order.status, "pickup_code": order.pickup_code,
        "waitlist_position": position,
        "lines": [{"line_id": ln.line_id, "product_id": ln.product_id, "product_name": ln.product_name,
                   "producer_id": ln.producer_id, "producer_name": ln.producer_name, "unit": ln.unit,
                   "quantity": ln.quantity, "tolerance": ln.tolerance, "allocated_quantity": ln.allocated_quantity,
                   "unit_price": from_centavos(ln.unit_price), "line_total": from_centavos(ln.line_total),
                   "basket_id": ln.basket_id} for ln in lines],
        "subtotal": from_centavos(order.subtotal),
        "fees": [{**f, "amount": from_centavos(f["amount"])} for f in order.fees],
        "fees_total": from_centavos(order.fees_total), "total": from_centavos(order.total),
        "paid": order.paid, "adjustments": order.adjustments, "created_at": aware(order.created_at),
        "placed_at": aware(order.placed_at),
    }


async def order_view(*, session: AsyncSession, order_id: int) -> dict:
    order = await _load_order(session=session, order_id=order_id)
    lines = (await session.execute(select(order_lines).where(order_lines.c.order_id == order_id)
                                   .order_by(order_lines.c.position))).all()
    return _order_dict(order, lines, position=await waitlist_position(session=session, order=order))


async def visible_order(*, session: AsyncSession, principal: Principal, order_id: int) -> dict:
    order = await _load_order(session=session, order_id=order_id)
    if not (principal.is_admin or order.consumer_account_id == principal.account_id):
        cycle = await load_cycle(session=session, cycle_id=order.cycle_id)
        if cycle.coordinator_account_id != principal.account_id:
            raise NotFound(f"order {order_id} not found", code="order_not_found")
    return await order_view(session=session, order_id=order_id)


async def list_orders(*, session: AsyncSession, principal: Principal, cycle_id: int | None, status: str | None,
                      limit: int, cursor: list | None) -> tuple[list[dict], list | None]:
    """Consumers see their orders; coordinators the orders of their cycles; admins all."""
    query = select(orders).order_by(orders.c.id.desc()).limit(limit + 1)
    if principal.role == Role.coordinator:
        mine = select(cycles.c.id).where(cycles.c.coordinator_account_id == principal.account_id)
        query = query.where(or_(orders.c.cycle_id.in_(mine), orders.c.consumer_account_id == principal.account_id))
    elif not principal.is_admin:
        query = query.where(orders.c.consumer_account_id == principal.account_id)
    if cycle_id is not None:
        query = query.where(orders.c.cycle_id == cycle_id)
    query = query.where(orders.c.status == status) if status else query.where(orders.c.status.in_(
        (*ACTIVE, WAITLISTED, "cancelled")))
    if cursor:
        try:
            query = query.where(orders.c.id < int(cursor[0]))
        except (TypeError, ValueError):
            raise InvalidInput("cursor is not valid", code="invalid_cursor") from None
    rows = (await session.execute(query)).all()
    page = rows[:limit]
    lines_by_order: dict[int, list] = {r.id: [] for r in page}
    if page:
        for ln in (await session.execute(select(order_lines).where(order_lines.c.order_id.in_(list(lines_by_order)))
                                          .order_by(order_lines.c.order_id, order_lines.c.position))).all():
            lines_by_order[ln.order_id].append(ln)
    nxt = [page[-1].id] if len(rows) > limit else None
    return [_order_dict(r, lines_by_order[r.id], position=await waitlist_position(session=session, order=r))
            for r in page], nxt
