"""Slots at delivery points: hold, confirm, release, move, the waitlist and its automatic promotion.

The slot count of a point in a cycle lives in one `point_capacities` row and only moves by
conditional UPDATEs (`booked = booked + 1 WHERE booked < capacity`), so concurrent bookings can
never overfill a point, on SQLite or PostgreSQL, whatever the number of workers. A booking that
finds no slot joins the waitlist when its order accepts waiting (kept, even though the answer is
409 `point_full`, which names its `waitlist_id`). Whenever a slot frees (a release, a capacity
raised), the first waiting booking takes it in the same transaction, gets its pickup code and
`booking.promoted` is emitted: the orders service turns the waiting order into a placed one
(protocol in services/orders/waitlist.py). A booking leaves `waitlisted` under its row lock, so it
is promoted, released or moved exactly once.
"""

import secrets
from types import SimpleNamespace

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.db import Database, Standalone
from services.common.errors import Conflict, NotFound
from services.common.events import emit
from services.common.tables import KernelTables, insert_ignoring_conflict, utcnow
from services.delivery.models import Booking, Cycle, DeliveryPoint, PointCapacity
from services.delivery.points import get_point, haversine_km

HELD, CONFIRMED, WAITLISTED, RELEASED, PICKED_UP, NO_SHOW = (
    "held", "confirmed", "waitlisted", "released", "picked_up", "no_show")
HOLDING_STATUSES = (HELD, CONFIRMED)
# a point's coordinator is told once this share of its slots in a cycle is booked (point.nearly_full)
NEARLY_FULL_PERCENT = 80

# Pickup codes: 8 characters from 31 symbols that cannot be mistaken for one another when read
# aloud or from a screen (no 0/O, 1/I/L): 31**8 ≈ 8.5e11 codes, about 39.6 bits.
PICKUP_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
PICKUP_CODE_LENGTH = 8


def new_pickup_code() -> str:
    return "".join(secrets.choice(PICKUP_ALPHABET) for _ in range(PICKUP_CODE_LENGTH))


class PointFull(Conflict):
    code = "point_full"


async def find_booking(*, session: AsyncSession, order_id: str, lock: bool = False) -> Booking | None:
    query = select(Booking).where(Booking.order_id == order_id)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


async def get_booking(*, session: AsyncSession, order_id: str, lock: bool = False) -> Booking:
    booking = await find_booking(session=session, order_id=order_id, lock=lock)
    if booking is None:
        raise NotFound(f"order {order_id} has no slot booking", code="booking_not_found",
                       details={"order_id": order_id})
    return booking


async def waitlist_position(*, session: AsyncSession, booking: Booking) -> int:
    return (await session.execute(select(func.count()).select_from(Booking).where(
        Booking.point_id == booking.point_id, Booking.cycle_id == booking.cycle_id,
        Booking.status == WAITLISTED, Booking.id <= booking.id))).scalar_one()


async def _point_full(*, session: AsyncSession, booking: Booking) -> PointFull:
    position = await waitlist_position(session=session, booking=booking)
    return PointFull(
        f"delivery point {booking.point_id} is full for cycle {booking.cycle_id}; the order is number "
        f"{position} on its waitlist and takes the first slot that frees",
        details={"point_id": booking.point_id, "cycle_id": booking.cycle_id, "waitlist_position": position,
                 "waitlist_id": booking.id})


async def _ensure_capacity_row(*, session: AsyncSession, kernel: KernelTables, point: DeliveryPoint,
                               cycle_id: int, capacity: int | None) -> None:
    """The point's slot row for the cycle; `capacity` (the cycle's own, when it sets one) is applied."""
    table = PointCapacity.__table__
    await session.execute(insert_ignoring_conflict(session, table).values(
        point_id=point.id, cycle_id=cycle_id,
        capacity=capacity if capacity is not None else point.max_orders_per_cycle, booked=0,
        cycle_capacity=capacity))
    if capacity is not None:
        await _set_slots(session=session, kernel=kernel, point_id=point.id, cycle_id=cycle_id, capacity=capacity,
                         cycle_capacity=capacity)


async def _set_slots(*, session: AsyncSession, kernel: KernelTables, point_id: int, cycle_id: int, capacity: int,
                     **values) -> None:
    """Set a slot row's capacity; a raise promotes waiting orders in the same transaction."""
    table = PointCapacity.__table__
    row = (table.c.point_id == point_id, table.c.cycle_id == cycle_id)
    raised = await session.execute(update(table).where(*row, table.c.capacity < capacity)
                                   .values(capacity=capacity, **values))
    await session.execute(update(table).where(*row, table.c.capacity >= capacity).values(capacity=capacity, **values))
    if raised.rowcount:
        await promote_waiting(session=session, kernel=kernel, point_id=point_id, cycle_id=cycle_id)


async def set_capacity(*, session: AsyncSession, kernel: KernelTables, point_id: int, cycle_id: int,
                       capacity: int) -> None:
    """The coordinator changed the cycle's capacity of a point: raising it promotes waiting orders at
    once; lowering it below the booked slots takes none away (new orders wait instead)."""
    point = await session.get(DeliveryPoint, point_id)
    if point is not None:
        await _ensure_capacity_row(session=session, kernel=kernel, point=point, cycle_id=cycle_id,
                                   capacity=capacity)


async def follow_point_capacity(*, session: AsyncSession, kernel: KernelTables, point: DeliveryPoint) -> list[int]:
    """The point's own `max_orders_per_cycle` changed: the open cycles that use it without a capacity
    of their own follow it, and a raise promotes their waiting orders. Returns those cycles' ids."""
    table = PointCapacity.__table__
    closed = select(Cycle.id)  # delivery learns a cycle on `cycle.closed`: those keep their slots
    cycle_ids = (await session.execute(select(table.c.cycle_id).where(
        table.c.point_id == point.id, table.c.cycle_capacity.is_(None), table.c.cycle_id.notin_(closed))
        .order_by(table.c.cycle_id))).scalars().all()
    for cycle_id in cycle_ids:
        await _set_slots(session=session, kernel=kernel, point_id=point.id, cycle_id=cycle_id,
                         capacity=point.max_orders_per_cycle)
    return list(cycle_ids)


def crossed_nearly_full(*, booked: int, capacity: int) -> bool:
    """True for the booking that brings a point to NEARLY_FULL_PERCENT of its slots."""
    threshold = capacity * NEARLY_FULL_PERCENT
    return capacity > 0 and booked * 100 >= threshold > (booked - 1) * 100


async def _take_slot(*, session: AsyncSession, kernel: KernelTables, point_id: int, cycle_id: int) -> bool:
    """One conditional UPDATE: True if a slot was free and is now taken. The slot that brings the
    point to NEARLY_FULL_PERCENT emits `point.nearly_full` (its coordinator is told)."""
    table = PointCapacity.__table__
    taken = (await session.execute(update(table).where(
        table.c.point_id == point_id, table.c.cycle_id == cycle_id, table.c.booked < table.c.capacity,
    ).values(booked=table.c.booked + 1).returning(table.c.booked, table.c.capacity))).first()
    if taken is None:
        return False
    await _tell_if_nearly_full(session=session, kernel=kernel, point_id=point_id, cycle_id=cycle_id, taken=taken)
    return True


async def _tell_if_nearly_full(*, session: AsyncSession, kernel: KernelTables, point_id: int, cycle_id: int,
                               taken) -> None:
    if crossed_nearly_full(booked=taken.booked, capacity=taken.capacity):
        await emit(session, kernel, event_type="point.nearly_full", aggregate_id=f"{cycle_id}:{point_id}", payload={
            "point_id": point_id, "cycle_id": cycle_id, "booked": taken.booked, "capacity": taken.capacity,
            "percent": NEARLY_FULL_PERCENT})


async def book_slot(*, db: Database, kernel: KernelTables, order_id: str, point_id: int, cycle_id: int,
                    capacity: int | None = None, consumer_account_id: int | None = None, wait_if_full: bool = True,
                    confirm: bool = False) -> "Booking | SimpleNamespace":
    """Hold a slot for an order, and confirm it at once with `confirm` (order placement does).

    Every order placed comes here, so the usual case is one standalone statement on PostgreSQL
    (`_book_standalone`) and two on SQLite (`_book_at_once`); any other (a point not seen yet in the
    cycle, full or about to be nearly full, inactive or unknown, a capacity to apply, the order
    already booked, a pickup code already given) goes the general way, with the same answers."""
    async with db.standalone() as statements:
        if statements is not None:
            booking = await _book_standalone(statements, order_id=order_id, point_id=point_id, cycle_id=cycle_id,
                                             capacity=capacity, consumer_account_id=consumer_account_id,
                                             confirm=confirm)
            if booking is not None:
                return booking
    async with db.session() as session:
        if statements is None:
            booking = await _book_at_once(session=session, kernel=kernel, order_id=order_id, point_id=point_id,
                                          cycle_id=cycle_id, capacity=capacity,
                                          consumer_account_id=consumer_account_id, confirm=confirm)
            if booking is not None:
                return booking
        booking = await hold_booking(session=session, kernel=kernel, order_id=order_id, point_id=point_id,
                                     cycle_id=cycle_id, capacity=capacity, consumer_account_id=consumer_account_id,
                                     wait_if_full=wait_if_full)
        if confirm:
            booking = await confirm_booking(session=session, order_id=order_id)
        return booking


# Take a slot and insert the booking, in one statement: the slot is taken only where the general
# way would take it with nothing else to do (an active point whose slot row for the cycle exists,
# with this capacity when one is given, room left, no booking of this order yet, and not the slot
# that makes the point nearly full: `crossed_nearly_full` in SQL, whose notice the general way emits).
_BOOK_STANDALONE = f"""
WITH taken AS (
    UPDATE point_capacities SET booked = booked + 1
    WHERE point_id = $1 AND cycle_id = $2 AND booked < capacity
      AND ($3::integer IS NULL OR cycle_capacity = $3::integer)
      AND NOT (capacity > 0 AND (booked + 1) * 100 >= capacity * {NEARLY_FULL_PERCENT}
               AND booked * 100 < capacity * {NEARLY_FULL_PERCENT})
      AND EXISTS (SELECT 1 FROM delivery_points WHERE id = $1 AND active)
      AND NOT EXISTS (SELECT 1 FROM bookings WHERE order_id = $4)
    RETURNING booked
), booked AS (
    INSERT INTO bookings (order_id, point_id, cycle_id, status, consumer_account_id, pickup_code,
                          pickup_failures, created_at, confirmed_at)
    SELECT $4, $1, $2, $5, $6, $7, 0, $8, $9 FROM taken
    ON CONFLICT DO NOTHING
    RETURNING id
)
SELECT (SELECT id FROM booked) AS id FROM taken
"""


async def _book_standalone(statements: Standalone, *, order_id: str, point_id: int, cycle_id: int,
                           capacity: int | None, consumer_account_id: int | None,
                           confirm: bool) -> SimpleNamespace | None:
    """`_BOOK_STANDALONE`; None when the general way must answer. A booking that found its order
    booked meanwhile or its pickup code taken gives its slot back first (a concurrent twin of the
    same call, or once in ~10^11). The booking comes back as plain attributes: building the ORM
    object cost as much as the statement."""
    now = utcnow()
    values = dict(order_id=order_id, point_id=point_id, cycle_id=cycle_id, status=CONFIRMED if confirm else HELD,
                  consumer_account_id=consumer_account_id, pickup_code=new_pickup_code() if confirm else None,
                  pickup_failures=0, created_at=now, confirmed_at=now if confirm else None)
    row = await statements.fetchrow(_BOOK_STANDALONE, point_id, cycle_id, capacity, order_id, values["status"],
                                    consumer_account_id, values["pickup_code"], now, values["confirmed_at"])
    if row is None:
        return None
    if row["id"] is None:
        await statements.fetchrow("UPDATE point_capacities SET booked = booked - 1 "
                                  "WHERE point_id = $1 AND cycle_id = $2 AND booked > 0", point_id, cycle_id)
        return None
    return SimpleNamespace(id=row["id"], **values)


async def _book_at_once(*, session: AsyncSession, kernel: KernelTables, order_id: str, point_id: int,
                        cycle_id: int, capacity: int | None, consumer_account_id: int | None,
                        confirm: bool) -> Booking | None:
    """SQLite's usual booking: take a slot of an active point whose slot row for the cycle exists
    (with this capacity, when the cycle sets one), then insert the order's booking; None, with
    nothing changed, when either does not apply. The same conditional UPDATE as `_take_slot`, so a
    point never overfills."""
    slots = PointCapacity.__table__
    active_point = select(DeliveryPoint.id).where(DeliveryPoint.id == point_id, DeliveryPoint.active)
    conditions = [slots.c.point_id == point_id, slots.c.cycle_id == cycle_id, slots.c.booked < slots.c.capacity,
                  slots.c.point_id.in_(active_point.scalar_subquery())]
    if capacity is not None:  # a capacity that differs must be applied first (it may promote): the general way
        conditions.append(slots.c.cycle_capacity == capacity)
    taken = (await session.execute(update(slots).where(*conditions).values(booked=slots.c.booked + 1)
                                   .returning(slots.c.booked, slots.c.capacity))).first()
    if taken is None:
        return None
    now = utcnow()
    values = dict(order_id=order_id, point_id=point_id, cycle_id=cycle_id, status=CONFIRMED if confirm else HELD,
                  consumer_account_id=consumer_account_id, pickup_code=new_pickup_code() if confirm else None,
                  pickup_failures=0, created_at=now, confirmed_at=now if confirm else None)
    table = Booking.__table__
    # no conflict target: an order booked before, or (once in ~10^11) a pickup code taken, inserts nothing
    inserted = (await session.execute(insert_ignoring_conflict(session, table).values(**values)
                                      .returning(table.c.id))).scalar_one_or_none()
    if inserted is None:
        await _give_back_slot(session=session, point_id=point_id, cycle_id=cycle_id)
        return None
    await _tell_if_nearly_full(session=session, kernel=kernel, point_id=point_id, cycle_id=cycle_id, taken=taken)
    return Booking(id=inserted, **values)


async def _give_back_slot(*, session: AsyncSession, point_id: int, cycle_id: int) -> None:
    table = PointCapacity.__table__
    await session.execute(update(table).where(
        table.c.point_id == point_id, table.c.cycle_id == cycle_id, table.c.booked > 0,
    ).values(booked=table.c.booked - 1))


async def hold_booking(*, session: AsyncSession, kernel: KernelTables, order_id: str, point_id: int,
                       cycle_id: int, capacity: int | None = None, consumer_account_id: int | None = None,
                       wait_if_full: bool = True) -> Booking:
    """Hold a slot for an order (idempotent by order id).

    Raises `PointFull` (409) when the point is full. With `wait_if_full` the order is then on the
    waitlist, and that entry is committed before the error is raised so the refusal does not undo
    it; without, nothing is kept.
    """
    existing = await find_booking(session=session, order_id=order_id, lock=True)
    if existing is not None and existing.status != RELEASED:
        if (existing.point_id, existing.cycle_id) != (point_id, cycle_id):
            raise Conflict(
                f"order {order_id} already has a booking at point {existing.point_id} for cycle "
                f"{existing.cycle_id}; release it before booking another point",
                code="booking_elsewhere",
                details={"order_id": order_id, "point_id": existing.point_id, "cycle_id": existing.cycle_id})
        if existing.status == WAITLISTED:
            raise await _point_full(session=session, booking=existing)
        return existing

    point = await get_point(session=session, point_id=point_id)
    if not point.active:
        raise Conflict(f"delivery point {point_id} ({point.name}) is not active", code="point_inactive",
                       details={"point_id": point_id})
    await _ensure_capacity_row(session=session, kernel=kernel, point=point, cycle_id=cycle_id, capacity=capacity)
    took = await _take_slot(session=session, kernel=kernel, point_id=point_id, cycle_id=cycle_id)
    if not took and not wait_if_full:
        raise PointFull(f"delivery point {point_id} is full for cycle {cycle_id}",
                        details={"point_id": point_id, "cycle_id": cycle_id})
    if existing is not None:  # a released booking asked again: it starts over, at the end of any queue
        await session.delete(existing)
        await session.flush()
    table = Booking.__table__
    result = await session.execute(insert_ignoring_conflict(session, table).values(
        order_id=order_id, point_id=point_id, cycle_id=cycle_id, status=HELD if took else WAITLISTED,
        consumer_account_id=consumer_account_id, pickup_failures=0, created_at=utcnow()))
    if result.rowcount == 0:  # the same order booked concurrently and won: answer as it did
        if took:
            await _give_back_slot(session=session, point_id=point_id, cycle_id=cycle_id)
        booking = await get_booking(session=session, order_id=order_id)
        if booking.status == WAITLISTED:
            raise await _point_full(session=session, booking=booking)
        return booking
    booking = await get_booking(session=session, order_id=order_id)
    if not took:
        error = await _point_full(session=session, booking=booking)
        await session.commit()  # keep the waitlist entry although the answer is a refusal
        raise error
    return booking


async def confirm_booking(*, session: AsyncSession, order_id: str) -> Booking:
    """A held slot becomes confirmed and gets its pickup code (idempotent: same code again)."""
    booking = await get_booking(session=session, order_id=order_id, lock=True)
    if booking.status in (CONFIRMED, PICKED_UP, NO_SHOW):
        return booking
    if booking.status != HELD:
        reason = ("is on the waitlist; it can be confirmed once promoted" if booking.status == WAITLISTED
                  else "was released; hold a slot again first")
        raise Conflict(f"the booking of order {order_id} {reason}", code=f"booking_{booking.status}",
                       details={"order_id": order_id, "status": booking.status})
    await _issue_pickup_code(session=session, booking=booking)
    return booking


async def _issue_pickup_code(*, session: AsyncSession, booking: Booking) -> None:
    """The booking becomes confirmed with a pickup code no other booking has."""
    while True:
        code = new_pickup_code()
        taken = (await session.execute(select(Booking.id).where(Booking.pickup_code == code))).first()
        if taken is None:
            break
    booking.pickup_code = code
    booking.status = CONFIRMED
    booking.confirmed_at = utcnow()
    await session.flush()


async def release_booking(*, session: AsyncSession, kernel: KernelTables, order_id: str) -> str:
    """Free an order's slot (idempotent; unknown orders are fine) and promote the first waiting one.
    Returns the booking's status afterwards."""
    booking = await find_booking(session=session, order_id=order_id, lock=True)
    if booking is None:
        return RELEASED
    if booking.status == PICKED_UP:
        raise Conflict(f"order {order_id} was already picked up; its slot cannot be released",
                       code="booking_picked_up", details={"order_id": order_id})
    if booking.status in (RELEASED, NO_SHOW):
        return booking.status
    was_holding = booking.status in HOLDING_STATUSES
    booking.status = RELEASED
    booking.released_at = utcnow()
    booking.pickup_code = None
    await session.flush()
    if was_holding:
        await _give_back_slot(session=session, point_id=booking.point_id, cycle_id=booking.cycle_id)
        await promote_waiting(session=session, kernel=kernel, point_id=booking.point_id, cycle_id=booking.cycle_id)
    return RELEASED


async def promote_waiting(*, session: AsyncSession, kernel: KernelTables, point_id: int,
                          cycle_id: int) -> list[Booking]:
    """While slots are free, the first waiting booking (by arrival) takes one and is confirmed with
    its pickup code (its order already holds its stock); each promotion is announced with
    `booking.promoted`, in the same transaction."""
    promoted = []
    while True:
        query = (select(Booking).where(Booking.point_id == point_id, Booking.cycle_id == cycle_id,
                                       Booking.status == WAITLISTED)
                 .order_by(Booking.id).limit(1).with_for_update(skip_locked=True))
        waiting = (await session.execute(query)).scalar_one_or_none()
        if waiting is None or not await _take_slot(session=session, kernel=kernel, point_id=point_id,
                                                   cycle_id=cycle_id):
            return promoted
        await _issue_pickup_code(session=session, booking=waiting)
        await emit(session, kernel, event_type="booking.promoted", aggregate_id=f"{cycle_id}:{point_id}",
                   payload={"point_id": point_id, "cycle_id": cycle_id, "order_id": waiting.order_id,
                            "waitlist_id": waiting.id, "pickup_code": waiting.pickup_code,
                            "consumer_account_id": waiting.consumer_account_id})
        promoted.append(waiting)


async def availability(*, session: AsyncSession, point_id: int, cycle_id: int) -> dict:
    point = await get_point(session=session, point_id=point_id)
    row = await session.get(PointCapacity, (point_id, cycle_id))
    capacity, booked = (row.capacity, row.booked) if row else (point.max_orders_per_cycle, 0)
    waitlisted = (await session.execute(select(func.count()).select_from(Booking).where(and_(
        Booking.point_id == point_id, Booking.cycle_id == cycle_id, Booking.status == WAITLISTED)))).scalar_one()
    return {"point_id": point_id, "cycle_id": cycle_id, "capacity": capacity, "booked": booked,
            "slots_left": max(0, capacity - booked), "waitlisted": waitlisted}


async def move_waiting_booking(*, session: AsyncSession, kernel: KernelTables, order_id: str, point_id: int,
                               cycle_id: int, capacity: int | None = None) -> Booking:
    """A waiting order moves to another point of its cycle that has a free slot, and is confirmed
    there at once (idempotent: asked again, the confirmed booking at that point answers).

    Refused when the target is full (409 `point_full`, nothing changes) and when the booking no
    longer waits (promoted where it was, or released): the caller learns the order's real state."""
    booking = await get_booking(session=session, order_id=order_id, lock=True)
    if booking.cycle_id != cycle_id:
        raise Conflict(f"order {order_id} is booked for cycle {booking.cycle_id}", code="booking_elsewhere",
                       details={"order_id": order_id, "cycle_id": booking.cycle_id})
    if booking.point_id == point_id and booking.status in (CONFIRMED, PICKED_UP, NO_SHOW):
        return booking
    if booking.status != WAITLISTED:
        raise Conflict(f"the booking of order {order_id} is {booking.status}, not waiting; it cannot move",
                       code=f"booking_{booking.status}",
                       details={"order_id": order_id, "status": booking.status, "point_id": booking.point_id})
    point = await get_point(session=session, point_id=point_id)
    if not point.active:
        raise Conflict(f"delivery point {point_id} ({point.name}) is not active", code="point_inactive",
                       details={"point_id": point_id})
    await _ensure_capacity_row(session=session, kernel=kernel, point=point, cycle_id=cycle_id, capacity=capacity)
    if not await _take_slot(session=session, kernel=kernel, point_id=point_id, cycle_id=cycle_id):
        raise PointFull(f"delivery point {point_id} is full for cycle {cycle_id}",
                        details={"point_id": point_id, "cycle_id": cycle_id})
    booking.point_id = point_id
    await _issue_pickup_code(session=session, booking=booking)
    return booking


async def points_with_room(*, session: AsyncSession, cycle_id: int, from_point_id: int,
                           capacities: dict[int, int | None], limit: int = 3) -> list[dict]:
    """The active points among `capacities` (point id -> the cycle's capacity, or None for the point's
    own) with a free slot in the cycle, nearest to `from_point_id` first."""
    origin = await session.get(DeliveryPoint, from_point_id)
    ids = [pid for pid in capacities if pid != from_point_id]
    if origin is None or not ids:
        return []
    found = (await session.execute(select(DeliveryPoint).where(DeliveryPoint.id.in_(ids),
                                                               DeliveryPoint.active))).scalars().all()
    rows = {r.point_id: r for r in (await session.execute(select(PointCapacity).where(
        PointCapacity.cycle_id == cycle_id, PointCapacity.point_id.in_(ids)))).scalars()}
    room = []
    for point in found:
        row = rows.get(point.id)
        capacity = capacities[point.id]
        if capacity is None:
            capacity = row.capacity if row is not None else point.max_orders_per_cycle
        left = capacity - (row.booked if row is not None else 0)
        if left > 0:
            room.append({"point_id": point.id, "name": point.name, "address": point.address,
                         "distance_km": round(haversine_km(origin.lat, origin.lon, point.lat, point.lon), 3),
                         "slots_left": left})
    room.sort(key=lambda p: (p["distance_km"], p["point_id"]))
    return room[:limit]
