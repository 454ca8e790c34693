"""Events the payments service consumes: placed and cancelled orders, closed cycles, delivered and
corrected consignments (docs/events.md)."""

from services.common.incoming import Batched
from services.payments.credit import on_consignment_corrected, on_consignment_delivered, on_order_cancelled
from services.payments.order_book import on_cycle_closed, on_order_placed, on_orders_placed

EVENT_HANDLERS = {
    "order.placed": Batched(on_order_placed, on_orders_placed),  # orders placed together: one lot
    "order.cancelled": on_order_cancelled,
    "cycle.closed": on_cycle_closed,
    "consignment.delivered": on_consignment_delivered,
    "consignment.corrected": on_consignment_corrected,
}
