"""Events the orders service consumes: pickups and no-shows from delivery, payments, promotions."""

import logging

from sqlalchemy import update

from services.common.errors import NotFound
from services.common.tables import utcnow
from services.orders.models import kernel, orders
from services.orders.placement import set_status
from services.orders.waitlist import apply_promotion

log = logging.getLogger("mercado.orders")


def _order_id(envelope) -> int | None:
    try:
        return int(envelope.payload["order_id"])
    except (KeyError, TypeError, ValueError):
        log.warning("event without a usable order_id", extra={"event_id": envelope.id})
        return None


async def _settle(session, envelope, status: str) -> None:
    if (order_id := _order_id(envelope)) is None:
        return
    try:
        await set_status(session=session, order_id=order_id, status=status, strict=False)
    except NotFound:
        log.warning("event names an unknown order", extra={"event_id": envelope.id, "order_id": order_id})


async def on_picked_up(session, envelope) -> None:
    await _settle(session, envelope, "picked_up")


async def on_no_show(session, envelope) -> None:
    await _settle(session, envelope, "no_show")


async def on_payment_received(session, envelope) -> None:
    if (order_id := _order_id(envelope)) is not None:
        await session.execute(update(orders).where(orders.c.id == order_id).values(paid=True, updated_at=utcnow()))


async def on_booking_promoted(session, envelope) -> None:
    """A slot freed and delivery gave it to this waiting order: it is placed (services/orders/waitlist.py)."""
    if (order_id := _order_id(envelope)) is None:
        return
    code = envelope.payload.get("pickup_code")
    if not code:
        log.warning("booking.promoted without a pickup code", extra={"event_id": envelope.id})
        return
    await apply_promotion(session=session, kernel=kernel, order_id=order_id, pickup_code=str(code))


EVENT_HANDLERS = {"order.picked_up": on_picked_up, "order.no_show": on_no_show,
                  "payment.received": on_payment_received, "booking.promoted": on_booking_promoted}
