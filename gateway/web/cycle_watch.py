"""What the coordinator's cycle page shows while a cycle fills, read from the services' answers:
orders and their value, each point's slots and waiting list, products running low, agrobolsas
with their price. Plain functions over plain dicts, so each rule has its own test.
"""

from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from gateway.web import views

ACTIVE = ("placed", "packed", "ready", "picked_up", "no_show")  # orders that hold a slot and count as sold
PAYABLE = ("placed", "packed", "ready", "picked_up")  # a coordinator records payments for these


def _dec(value) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, TypeError):
        return Decimal(0)


def order_summary(orders: list[dict]) -> dict:
    """Confirmed orders and their value (products and fees), those waiting for a slot apart."""
    active = [o for o in orders if o.get("status") in ACTIVE]
    return {"orders": len(active),
            "value": sum((views.centavos(o.get("total")) or 0) for o in active),
            "waitlisted": sum(1 for o in orders if o.get("status") == "waitlisted"),
            "cancelled": sum(1 for o in orders if o.get("status") == "cancelled"),
            "unpaid": sum(1 for o in active if not o.get("paid"))}


def point_rows(*, cycle: dict, points: dict[int, dict], availability: dict[int, dict], staff: list[dict],
               names: dict[int, str]) -> list[dict]:
    """One row per point of the cycle: its cycle capacity (the cycle's own, else the point's), slots
    taken and left, orders waiting, and who works there."""
    rows = []
    for point_id in cycle.get("delivery_point_ids", []):
        point = points.get(point_id, {})
        seen = availability.get(point_id) or {}
        capacity = cycle.get("point_capacity", {}).get(str(point_id), seen.get("capacity"))
        booked = seen.get("booked", 0)
        rows.append({"id": point_id, "name": point.get("name") or f"Punto {point_id}",
                     "capacity": capacity, "booked": booked,
                     "slots_left": None if capacity is None else max(0, capacity - booked),
                     "waitlisted": seen.get("waitlisted", 0),
                     "staff": [{"account_id": s["account_id"], "name": names.get(s["account_id"], f"#{s['account_id']}")}
                               for s in staff if s.get("point_id") == point_id]})
    return rows


def running_low(*, orders: list[dict], products: dict[int, dict]) -> list[dict]:
    """Products this cycle sells whose stock left is less than what the cycle already sold of them:
    at the same pace they run out before it closes. Most urgent (least left per unit sold) first."""
    sold: dict[int, Decimal] = defaultdict(Decimal)
    for order in orders:
        if order.get("status") in ACTIVE or order.get("status") == "waitlisted":
            for line in order.get("lines", []):
                sold[line["product_id"]] += _dec(line.get("quantity"))
    low = []
    for product_id, quantity in sold.items():
        product = products.get(product_id)
        if product is None or quantity <= 0:
            continue
        left = _dec(product.get("available"))
        if left < quantity:
            low.append({"id": product_id, "name": product.get("name", ""), "unit": product.get("unit", ""),
                        "producer": product.get("producer_name", ""), "left": left, "sold": quantity})
    return sorted(low, key=lambda p: (p["left"] / p["sold"], p["name"]))


def basket_rows(*, baskets: list[dict], products: dict[int, dict]) -> list[dict]:
    """Each agrobolsa with its contents and its price: the sum of its contents at today's prices
    (what a consumer pays for it; None when a product is no longer on sale)."""
    rows = []
    for basket in baskets:
        price, contents = 0, []
        for line in basket.get("lines", []):
            product = products.get(int(line["product_id"]))
            quantity = _dec(line.get("quantity"))
            if product is None:
                price = None
                contents.append({"name": f"producto {line['product_id']}", "quantity": quantity, "unit": ""})
                continue
            if price is not None:
                price += int((quantity * _dec(product.get("price")) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
            contents.append({"name": product.get("name", ""), "quantity": quantity, "unit": product.get("unit", "")})
        rows.append({"id": basket.get("id"), "name": basket.get("name", ""),
                     "description": basket.get("description", ""), "contents": contents, "price": price})
    return rows
