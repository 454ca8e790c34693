"""The payloads of the events the orders service emits about one order (docs/events.md).

One builder per event type, used by every path that emits it (placement, promotion, move, close,
cancellation), so subscribers always get the same shape.
"""

from services.common.money import from_centavos
from services.common.units import quantity_text


def line_ids_of(order_id: int, count: int) -> list[str]:
    return [f"{order_id}-{n}" for n in range(1, count + 1)]


def placed_payload(*, order, lines, placed_at, delivery_date) -> dict:
    """`order.placed`: `order` has id, cycle_id, consumer_account_id, delivery_point_id, pickup_code,
    fees_total and total (centavos); `lines` are mappings with the order line columns."""
    return {
        "order_id": order.id, "cycle_id": order.cycle_id, "consumer_account_id": order.consumer_account_id,
        "delivery_point_id": order.delivery_point_id,
        "lines": [{"line_id": r["line_id"], "product_id": r["product_id"], "producer_id": r["producer_id"],
                   "quantity": quantity_text(r["quantity"]), "unit": r["unit"],
                   "unit_price": str(from_centavos(r["unit_price"])),
                   "line_total": str(from_centavos(r["line_total"]))} for r in lines],
        "fees_total": str(from_centavos(order.fees_total)), "total": str(from_centavos(order.total)),
        "placed_at": placed_at.isoformat(), "pickup_code": order.pickup_code,
        "delivery_date": delivery_date.isoformat()}


def waitlisted_payload(*, order, position: int, waitlisted_at) -> dict:
    """`order.waitlisted`: the order waits at its point, stock reserved, at `position` (1 = next)."""
    return {"order_id": order.id, "cycle_id": order.cycle_id, "consumer_account_id": order.consumer_account_id,
            "delivery_point_id": order.delivery_point_id, "position": position,
            "total": str(from_centavos(order.total)), "waitlisted_at": waitlisted_at.isoformat()}


def promoted_payload(*, order, pickup_code: str, reason: str, placed_at, delivery_date,
                     moved_from: int | None = None) -> dict:
    """`order.promoted`: a waiting order got a slot (`reason` slot_freed) or moved to a point with room
    (`reason` moved, `moved_from` the point it waited at); it is placed, its payment due."""
    return {"order_id": order.id, "cycle_id": order.cycle_id, "consumer_account_id": order.consumer_account_id,
            "delivery_point_id": order.delivery_point_id, "pickup_code": pickup_code, "reason": reason,
            "moved_from_point_id": moved_from, "total": str(from_centavos(order.total)),
            "placed_at": placed_at.isoformat(), "delivery_date": delivery_date.isoformat()}


def cancelled_payload(*, order, reason: str) -> dict:
    """`order.cancelled`: `previous_status` waitlisted means it was never placed (nothing was owed)."""
    return {"order_id": order.id, "cycle_id": order.cycle_id, "consumer_account_id": order.consumer_account_id,
            "delivery_point_id": order.delivery_point_id, "line_ids": line_ids_of(order.id, order.line_count),
            "total": str(from_centavos(order.total)), "reason": reason, "previous_status": order.status}
