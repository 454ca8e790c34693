"""Waiting orders: an order at a full point waits on the point's list, stock reserved, and is placed
automatically, in order, when a slot frees; it can move to a point with room or be cancelled; at
cycle close the orders still waiting are cancelled.

Delivery owns the slots and the list (its bookings, ordered by booking id = `waitlist_seq` here);
orders owns the order's status. They agree through one synchronous call per consumer action and
one event per promotion:

Joining the list (inside the placement saga, services/orders/placement.py):
1. The order is committed `pending` and its stock reserved in catalog (saga steps 1-2).
2. Delivery is asked for a slot with `wait_if_full`; a full point commits a waiting booking and
   answers 409 `point_full` with its `waitlist_id`. (Without `wait_if_full` nothing is kept and the
   consumer gets the 409 with the nearest points of the cycle that still have room.)
3. One transaction: lines, prices and fees are snapshot, the order becomes `waitlisted` with
   `waitlist_seq`, `order.waitlisted` (position) is emitted. If it fails, the order fails and its
   stock and booking are released like any failed placement (and recovery retries).

Promotion (a cancellation, a failed placement's release, a capacity raised by the coordinator):
4. At delivery, in the transaction that frees the slot (a holding booking released, or the
   `cycle.capacity_changed` event applied), the first waiting booking takes the slot by the
   conditional UPDATE, gets its pickup code and `booking.promoted` goes to delivery's outbox. The
   booking leaves `waitlisted` under its row lock: it is promoted, moved or released once. If the
   transaction fails nothing happened and the release is retried by whoever asked it.
5. The relay delivers `booking.promoted` at least once; orders' inbox applies it once per event.
6. `apply_promotion`, in the inbox transaction: the cycle row is read first (the lock order of
   every writer here: cycle, then order).
   a. the order is still `pending` (its saga has not written step 3 yet): the pickup code is left
      on the pending row; step 3 (which locks the row) finds it and places the order at once with
      `order.placed` and `order.promoted`. If the saga fails instead, its compensation releases the
      booking and the slot goes to the next waiting order. Nothing waits on a retry;
   b. the cycle is due: it is closed now (step 8), which cancels this order too;
   c. the order waits and the cycle is open: one conditional UPDATE waitlisted -> placed with the
      pickup code, then `order.placed` (payment due) and `order.promoted`;
   d. anything else (cancelled, failed, already placed by a move): nothing; that order's own
      release gives the slot back at delivery, which promotes the next.
   A failure rolls back the order and the inbox row together: the event is applied again.
   No order is promoted twice: delivery promotes a booking once (4), an event is applied once
   (5), and waitlisted -> placed is a conditional UPDATE (6c), whichever of a promotion or a move
   gets there first.

Moving and cancelling (the consumer):
7. Move: orders checks owner, status and target point; delivery moves the waiting booking to the
   target and confirms it there in one transaction (refused when the target is full or the
   booking no longer waits; idempotent); then orders places the order at the new point (6c's
   UPDATE) with `order.placed` and `order.promoted` (reason moved). If orders fails after
   delivery's answer, asking again completes the move (delivery answers the same booking);
   otherwise the close (8) cancels the order and its slot is released. Cancel: like any order
   (placement.cancel_order): `order.cancelled`, stock and booking released.

Close:
8. `close_cycle` closes the cycle and, in the same transaction, cancels its waiting orders
   (`order.cancelled`, reason `waitlist_closed`; delivery releases their bookings on it).
9. Consolidation, which follows every close, first gives their stock back in catalog
   (`placement.release_cancelled`, idempotent by line id); what fails there is retried by the next
   consolidation round or by recovery.
"""

import logging

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
)
from services.common.events import emit
from services.common.tables import KernelTables, utcnow
from services.orders.cycles import is_due, load_cycle, mark_closed
from services.orders.models import order_lines, orders
from services.orders.order_events import (
    cancelled_payload,
    placed_payload,
    promoted_payload,
    waitlisted_payload,
)

log = logging.getLogger("mercado.orders")

WAITLISTED = "waitlisted"


async def waitlist_position(*, session: AsyncSession, order) -> int | None:
    """1 for the next order to get a slot at its point; None when the order does not wait."""
    if order.status != WAITLISTED or order.waitlist_seq is None:
        return None
    return (await session.execute(select(func.count()).select_from(orders).where(
        orders.c.cycle_id == order.cycle_id, orders.c.delivery_point_id == order.delivery_point_id,
        orders.c.status == WAITLISTED, orders.c.waitlist_seq <= order.waitlist_seq))).scalar_one()


async def emit_waitlisted(*, session: AsyncSession, kernel: KernelTables, order_id: int) -> int:
    """`order.waitlisted` for an order just put on its point's list; returns its position."""
    order = (await session.execute(select(orders).where(orders.c.id == order_id))).one()
    position = await waitlist_position(session=session, order=order)
    await emit(session, kernel, event_type="order.waitlisted", aggregate_id=order_id,
               payload=waitlisted_payload(order=order, position=position, waitlisted_at=order.updated_at))
    return position


async def point_full_error(*, delivery, cycle, point_id: int) -> Conflict:
    """The 409 for a full point: the nearest points of the cycle with a free slot, and how to wait."""
    candidates = [{"point_id": pid, "capacity": cycle.point_capacity.get(str(pid))}
                  for pid in cycle.point_ids if pid != point_id]
    room = []
    if candidates:
        try:
            room = await delivery.call("POST", "/internal/points/room", json={
                "cycle_id": cycle.id, "from_point_id": point_id, "points": candidates[:100]})
        except DomainError as exc:
            log.warning("points with room unknown", extra={"cycle_id": cycle.id, "error": exc.code})
    return Conflict(
        f"delivery point {point_id} is full for cycle {cycle.id}; choose one of the nearest points with room, "
        "or order again with wait_if_full: true to wait (stock reserved) for the first slot that frees",
        code="point_full", details={"point_id": point_id, "cycle_id": cycle.id, "nearest_points_with_room": room})


async def close_cycle(*, session: AsyncSession, kernel: KernelTables, cycle_id: int) -> bool:
    """Open -> closed once (step 8), cancelling the orders still waiting in the same transaction."""
    if not await mark_closed(session=session, cycle_id=cycle_id):
        return False
    waiting = (await session.execute(select(orders).where(orders.c.cycle_id == cycle_id,
                                                          orders.c.status == WAITLISTED)
                                     .order_by(orders.c.id))).all()
    if waiting:
        await session.execute(update(orders).where(orders.c.id.in_([o.id for o in waiting]),
                                                   orders.c.status == WAITLISTED)
                              .values(status="cancelled", updated_at=utcnow()))
        for order in waiting:
            await emit(session, kernel, event_type="order.cancelled", aggregate_id=order.id,
                       payload=cancelled_payload(order=order, reason="waitlist_closed"))
        log.info("waiting orders cancelled at close", extra={"cycle_id": cycle_id, "count": len(waiting)})
    return True


async def _place_waiting(*, session: AsyncSession, kernel: KernelTables, order, cycle, pickup_code: str,
                         reason: str, point_id: int | None = None) -> bool:
    """Waitlisted -> placed, once (a conditional UPDATE), with `order.placed` and `order.promoted`."""
    now = utcnow()
    values = dict(status="placed", pickup_code=pickup_code, placed_at=now, updated_at=now)
    if point_id is not None:
        values["delivery_point_id"] = point_id
    result = await session.execute(update(orders).where(orders.c.id == order.id, orders.c.status == WAITLISTED)
                                   .values(**values))
    if result.rowcount != 1:
        return False
    if point_id is not None:
        await session.execute(update(order_lines).where(order_lines.c.order_id == order.id)
                              .values(delivery_point_id=point_id))
    placed = (await session.execute(select(orders).where(orders.c.id == order.id))).one()
    lines = (await session.execute(select(order_lines).where(order_lines.c.order_id == order.id)
                                   .order_by(order_lines.c.position))).mappings().all()
    await emit(session, kernel, event_type="order.placed", aggregate_id=order.id,
               payload=placed_payload(order=placed, lines=lines, placed_at=now, delivery_date=cycle.delivery_date))
    await emit(session, kernel, event_type="order.promoted", aggregate_id=order.id, payload=promoted_payload(
        order=placed, pickup_code=pickup_code, reason=reason, placed_at=now, delivery_date=cycle.delivery_date,
        moved_from=order.delivery_point_id if point_id is not None else None))
    return True


async def early_promotion_code(*, session: AsyncSession, order_id: int) -> str | None:
    """Step 3: the pickup code a promotion left on the still pending order (step 6a), read under
    the row lock so a promotion arriving now waits and then finds the order written."""
    return (await session.execute(select(orders.c.pickup_code).where(orders.c.id == order_id)
                                  .with_for_update())).scalar_one()


async def apply_promotion(*, session: AsyncSession, kernel: KernelTables, order_id: int, pickup_code: str) -> bool:
    """Step 6: delivery gave a waiting order a slot. True if the order is placed now."""
    order = (await session.execute(select(orders).where(orders.c.id == order_id))).first()
    if order is None:
        log.warning("booking.promoted names an unknown order", extra={"order_id": order_id})
        return False
    cycle = await load_cycle(session=session, cycle_id=order.cycle_id)
    if is_due(cycle):
        await close_cycle(session=session, kernel=kernel, cycle_id=cycle.id)
        return False
    cycle = await load_cycle(session=session, cycle_id=order.cycle_id, lock="share")
    order = (await session.execute(select(orders).where(orders.c.id == order_id))).one()
    if order.status == "pending":
        early = await session.execute(update(orders).where(orders.c.id == order_id, orders.c.status == "pending")
                                      .values(pickup_code=pickup_code))
        if early.rowcount == 1:
            log.info("promotion left for the placement still running", extra={"order_id": order_id})
            return False
        order = (await session.execute(select(orders).where(orders.c.id == order_id))).one()
    if order.status != WAITLISTED or cycle.status != "open" or is_due(cycle):
        log.info("promotion of an order that no longer waits", extra={"order_id": order_id, "status": order.status})
        return False
    return await _place_waiting(session=session, kernel=kernel, order=order, cycle=cycle, pickup_code=pickup_code,
                                reason="slot_freed")


async def move_order(*, db, kernel: KernelTables, clients, principal: Principal, order_id: int,
                     point_id: int) -> None:
    """Step 7: a waiting order moves to another point of its cycle with a free slot, placed at once."""
    async with db.session() as session:
        order = (await session.execute(select(orders).where(orders.c.id == order_id))).first()
        if order is None:
            raise NotFound(f"order {order_id} not found", code="order_not_found")
        if not (principal.is_admin or order.consumer_account_id == principal.account_id):
            raise Forbidden("this order is not yours", code="not_your_order")
        if order.status == "placed" and order.delivery_point_id == point_id:
            return  # the same move asked again
        if order.status != WAITLISTED:
            raise Conflict(f"a {order.status} order does not wait for a slot; only waiting orders move",
                           code="order_not_waiting", details={"status": order.status})
        cycle = await load_cycle(session=session, cycle_id=order.cycle_id)
        if cycle.status != "open" or is_due(cycle):
            raise Conflict("the cycle has closed; waiting orders can no longer move", code="cycle_closed",
                           details={"cycle_id": cycle.id})
        if point_id not in cycle.point_ids:
            raise InvalidInput(f"delivery point {point_id} does not serve cycle {cycle.id}; choose one of "
                               f"{cycle.point_ids}", code="point_not_in_cycle",
                               details={"delivery_point_id": point_id, "cycle_point_ids": cycle.point_ids})
        if point_id == order.delivery_point_id:
            raise InvalidInput(f"the order already waits at delivery point {point_id}; choose another point",
                               code="same_point")
    try:
        booking = await clients["delivery"].call("POST", f"/internal/bookings/{order_id}/move", idempotent=True, json={
            "point_id": point_id, "cycle_id": cycle.id, "capacity": cycle.point_capacity.get(str(point_id))})
    except DomainError as exc:
        if exc.code == "point_full":
            raise await point_full_error(delivery=clients["delivery"], cycle=cycle, point_id=point_id) from None
        if exc.code in ("booking_confirmed", "booking_released", "booking_not_found"):
            raise Conflict("the order stopped waiting meanwhile (it got a slot at its point, or was cancelled); "
                           "look at it again", code="order_not_waiting", details={"booking": exc.code}) from None
        raise
    async with db.session() as session:
        cycle = await load_cycle(session=session, cycle_id=order.cycle_id, lock="share")
        if cycle.status != "open" or is_due(cycle):
            # the close cancels the order, and its order.cancelled releases the slot just taken
            raise Conflict("the cycle closed while the order was moving", code="cycle_closed",
                           details={"cycle_id": cycle.id})
        if not await _place_waiting(session=session, kernel=kernel, order=order, cycle=cycle,
                                    pickup_code=booking["pickup_code"], reason="moved", point_id=point_id):
            # cancelled meanwhile: its release (now or by recovery) frees the slot taken at the target
            raise Conflict("the order stopped waiting meanwhile; look at it again", code="order_not_waiting")
