"""Events the delivery service consumes: `cycle.closed` and `order.cancelled` (docs/events.md)."""

import logging

from services.common.errors import Conflict
from services.delivery.bookings import release_booking
from services.delivery.consignments import record_closed_cycle
from services.delivery.models import kernel

log = logging.getLogger("mercado.delivery")


async def on_cycle_closed(session, envelope) -> None:
    """The cycle's delivery day, one consignment per (producer, cycle, point), the bags' owners."""
    await record_closed_cycle(session=session, payload=envelope.payload)


async def on_order_cancelled(session, envelope) -> None:
    """A cancelled order frees its slot (if it still holds one); the first waiting order takes it.
    An order already handed over has no slot to free: the event is noted, not retried forever."""
    order_id = str(envelope.payload["order_id"])
    try:
        await release_booking(session=session, kernel=kernel, order_id=order_id)
    except Conflict as exc:
        log.warning("cancelled order keeps its booking", extra={"order_id": order_id, "reason": exc.code})


EVENT_HANDLERS = {"cycle.closed": on_cycle_closed, "order.cancelled": on_order_cancelled}
