"""A day at a delivery point, set up through the API as clients do: a closed cycle with one order at
a point the coordinator staffed with one account, and the order's producer's consignment."""

import uuid
from decimal import Decimal

from tests.web.test_pages import wait_for


def set_up_point_day(platform, *, staff: str, consumer: str, producer_id: int, quantity: int = 3) -> dict:
    coordinator, buyer = platform.login("coordinacion"), platform.login(consumer)
    current = platform.request("GET", "/api/orders/cycles?status=open", token=coordinator)["items"][0]
    cycle = platform.request("POST", "/api/orders/cycles", token=coordinator, key=uuid.uuid4().hex, body={
        "name": "Ciclo del punto", "opens_at": current["opens_at"], "closes_at": current["closes_at"],
        "delivery_date": current["delivery_date"], "delivery_point_ids": current["delivery_point_ids"],
        "status": "open"})
    product = next(p for p in platform.request("GET", f"/api/catalog/products?producer={producer_id}&limit=50")["items"]
                   if not p.get("case_size") and Decimal(p["available"]) >= quantity)
    point = platform.request("GET", f"/api/delivery/points?open_on={cycle['delivery_date']}&limit=1")["items"][0]
    order = platform.request("POST", "/api/orders/orders", token=buyer, key=uuid.uuid4().hex, body={
        "cycle_id": cycle["id"], "delivery_point_id": point["id"],
        "lines": [{"product_id": product["id"], "quantity": str(quantity)}]})
    staff_id = platform.request("GET", "/api/auth/me", token=platform.login(staff))["id"]
    platform.request("POST", f"/api/delivery/cycles/{cycle['id']}/points/{point['id']}/staff", token=coordinator,
                     body={"account_id": staff_id})
    platform.request("POST", f"/api/orders/cycles/{cycle['id']}/close", token=coordinator)
    consignment = wait_for(lambda: platform.request(
        "GET", f"/api/delivery/consignments?cycle_id={cycle['id']}", token=coordinator)["items"], "consignments")[0]
    return {"cycle": cycle, "point": point, "order": order, "product": product, "consignment": consignment}
