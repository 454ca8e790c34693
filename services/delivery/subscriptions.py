"""Events the delivery service consumes: `cycle.closed`, `order.cancelled` and
`cycle.capacity_changed` (docs/events.md)."""

import logging

from services.common.errors import Conflict
from services.delivery.bookings import release_booking, set_capacity
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


async def on_capacity_changed(session, envelope) -> None:
    """The coordinator set a point's capacity for the cycle: a raise promotes waiting orders now."""
    cycle_id = int(envelope.payload["cycle_id"])
    for point_id, capacity in sorted((envelope.payload.get("point_capacity") or {}).items()):
        await set_capacity(session=session, kernel=kernel, point_id=int(point_id), cycle_id=cycle_id,
                           capacity=int(capacity))


EVENT_HANDLERS = {"cycle.closed": on_cycle_closed, "order.cancelled": on_order_cancelled,
                  "cycle.capacity_changed": on_capacity_changed}
