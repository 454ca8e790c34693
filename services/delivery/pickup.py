"""Pickup at the delivery point: the code check (rate limited per order), its QR image, no-shows.

Only the cycle's coordinator and the staff of the order's point submit codes (services/delivery/access.py,
checked before anything is counted). Wrong codes are counted per (staff account, order) in the
database, so the limit holds across workers: after `max_failures` wrong codes that account is
locked out of that order for `lock_minutes` (429 with Retry-After); another allowed account with the
right code still hands the order over.
A confirmed order not picked up when its point's last window of the delivery day closes becomes a
no-show (`order.no_show`).
"""

import hmac
import io
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.clock import BOLIVIA
from services.common.errors import Conflict, DomainError, RateLimited
from services.common.events import emit
from services.common.tables import KernelTables
from services.delivery.bookings import CONFIRMED, NO_SHOW, PICKED_UP, get_booking
from services.delivery.models import Booking, Cycle, DeliveryPoint, PickupAttempts
from services.delivery.points import windows_on


class WrongPickupCode(DomainError):
    status, code = 422, "wrong_pickup_code"


def normalize_code(code: str) -> str:
    """People type codes with spaces, dashes or in lower case: K7M2-QX9P == k7m2qx9p."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def _aware(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


async def _attempts(session: AsyncSession, order_id: str, account_id: int) -> PickupAttempts:
    attempts = await session.get(PickupAttempts, (order_id, account_id))
    if attempts is None:
        attempts = PickupAttempts(order_id=order_id, account_id=account_id, failures=0)
        session.add(attempts)
    return attempts


async def pick_up(*, session: AsyncSession, kernel: KernelTables, order_id: str, pickup_code: str, point_id: int,
                  staff_account_id: int, now: datetime, max_failures: int, lock_minutes: int) -> Booking:
    """Check the code at the point and mark the order picked up (`order.picked_up`).

    The caller was checked already (access.ensure_point_duty). A wrong code counts against this staff
    account for this order (committed before the refusal is raised, so it counts).
    """
    booking = await get_booking(session=session, order_id=order_id, lock=True)  # serialises checks of one order
    attempts = await _attempts(session, order_id, staff_account_id)
    locked_until = _aware(attempts.locked_until)
    if locked_until is not None and locked_until > now:
        wait = max(1, int((locked_until - now).total_seconds() + 0.999))
        raise RateLimited(f"too many wrong pickup codes from you for order {order_id}; try again in {wait} seconds",
                          code="too_many_attempts", details={"retry_after_seconds": wait},
                          headers={"Retry-After": str(wait)})
    if booking.status == PICKED_UP:
        raise Conflict(f"order {order_id} was already picked up", code="already_picked_up",
                       details={"order_id": order_id, "picked_up_at": booking.picked_up_at.isoformat()})
    if booking.status != CONFIRMED:
        raise Conflict(f"order {order_id} cannot be picked up: its booking is {booking.status}",
                       code="booking_not_confirmed", details={"order_id": order_id, "status": booking.status})
    if not hmac.compare_digest(normalize_code(pickup_code).encode(), (booking.pickup_code or "").encode()):
        attempts.failures += 1
        left = max_failures - attempts.failures
        if left <= 0:
            attempts.failures = 0
            attempts.locked_until = now + timedelta(minutes=lock_minutes)
            error: DomainError = RateLimited(
                f"wrong pickup code, {max_failures} times: you are locked out of order {order_id} for "
                f"{lock_minutes} minutes", code="too_many_attempts",
                details={"retry_after_seconds": lock_minutes * 60}, headers={"Retry-After": str(lock_minutes * 60)})
        else:
            error = WrongPickupCode(f"the pickup code does not match order {order_id}; {left} attempts left",
                                    details={"attempts_left": left})
        await session.flush()
        await session.commit()  # the failure must count although the answer is a refusal
        raise error
    if booking.point_id != point_id:
        raise Conflict(f"order {order_id} is picked up at delivery point {booking.point_id}, not {point_id}",
                       code="wrong_point", details={"order_id": order_id, "point_id": booking.point_id,
                                                    "given_point_id": point_id})
    booking.status = PICKED_UP
    booking.picked_up_at = now
    await session.execute(delete(PickupAttempts).where(PickupAttempts.order_id == order_id))
    await session.flush()
    await emit(session, kernel, event_type="order.picked_up", aggregate_id=order_id, payload={
        "order_id": order_id, "cycle_id": booking.cycle_id, "delivery_point_id": booking.point_id,
        "picked_up_at": now.isoformat()})
    return booking


PICKUP_LIST_STATUSES = (CONFIRMED, PICKED_UP, NO_SHOW)


async def list_pickups(*, session: AsyncSession, visible, cycle_id: int | None, limit: int) -> list[dict]:
    """The pickups a caller may check (`visible`: access.visible_pickups), newest cycle first, those
    still to hand over before the others; never their codes."""
    query = (select(Booking, Cycle.delivery_date, DeliveryPoint.name)
             .join(DeliveryPoint, DeliveryPoint.id == Booking.point_id)
             .outerjoin(Cycle, Cycle.id == Booking.cycle_id)
             .where(Booking.status.in_(PICKUP_LIST_STATUSES))
             .order_by(Booking.cycle_id.desc(), (Booking.status != CONFIRMED), Booking.point_id, Booking.id)
             .limit(limit))
    if visible is not None:
        query = query.where(visible)
    if cycle_id is not None:
        query = query.where(Booking.cycle_id == cycle_id)
    rows = await session.execute(query)
    return [{"order_id": b.order_id, "cycle_id": b.cycle_id, "point_id": b.point_id, "point_name": name,
             "delivery_date": day, "status": b.status, "picked_up_at": b.picked_up_at}
            for b, day, name in rows]


def qr_png(text: str) -> bytes:
    """A QR code image (PNG) of the pickup code, readable by any phone camera."""
    import qrcode  # with PIL, some 4 MB only the QR endpoint needs

    image = qrcode.make(text, box_size=8, border=2)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def pickup_deadline(*, schedule: list[dict], delivery_date) -> datetime:
    """When the point's last window on the delivery day closes (end of that day if it has none)."""
    windows = windows_on(schedule or [], delivery_date.weekday())
    closes = max((w["closes"] for w in windows), default=None)
    end = time.fromisoformat(closes) if closes else time(23, 59, 59)
    return datetime.combine(delivery_date, end, tzinfo=BOLIVIA)


async def mark_no_shows(*, session: AsyncSession, kernel: KernelTables, now: datetime,
                        cycle_id: int | None = None, point_ids: set[int] | None = None) -> list[str]:
    """Confirmed orders whose pickup window is over become no-shows (`order.no_show`); only at
    `point_ids` when given (a point's staff marks its own point)."""
    query = (select(Booking, DeliveryPoint.schedule, Cycle.delivery_date)
             .join(DeliveryPoint, DeliveryPoint.id == Booking.point_id)
             .join(Cycle, Cycle.id == Booking.cycle_id)
             .where(Booking.status == CONFIRMED, Cycle.delivery_date <= now.astimezone(BOLIVIA).date())
             .order_by(Booking.id).with_for_update(of=Booking.__table__, skip_locked=True))
    if cycle_id is not None:
        query = query.where(Booking.cycle_id == cycle_id)
    if point_ids is not None:
        query = query.where(Booking.point_id.in_(sorted(point_ids)))
    marked = []
    for booking, schedule, delivery_date in (await session.execute(query)).all():
        if now < pickup_deadline(schedule=schedule, delivery_date=delivery_date):
            continue
        booking.status = NO_SHOW
        await emit(session, kernel, event_type="order.no_show", aggregate_id=booking.order_id, payload={
            "order_id": booking.order_id, "cycle_id": booking.cycle_id, "delivery_point_id": booking.point_id})
        marked.append(booking.order_id)
    await session.flush()
    return marked
