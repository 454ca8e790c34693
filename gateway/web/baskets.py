"""Agrobolsas as the consumer sees them: a cycle's fixed baskets with what each holds and what it
costs at today's prices (the order snapshots the prices when it is placed)."""

import asyncio
from decimal import Decimal

from gateway.web import views
from gateway.web.session import UpstreamError, WebSession


async def _product(web: WebSession, product_id: int) -> dict | None:
    try:
        return await web.call("GET", f"/api/catalog/products/{product_id}")
    except UpstreamError:
        return None


async def baskets_of(web: WebSession, cycle_id: int) -> list[dict]:
    """The cycle's active agrobolsas, each with its lines named and its price; none for a visitor
    (the orders service shows them to accounts) or when the service does not answer."""
    if web.principal is None:
        return []
    try:
        found = await web.call("GET", f"/api/orders/cycles/{cycle_id}/baskets")
    except UpstreamError:
        return []
    found = [b for b in views.items_of(found) if b.get("active", True)]
    wanted = sorted({line["product_id"] for b in found for line in b["lines"]})
    products = dict(zip(wanted, await asyncio.gather(*(_product(web, pid) for pid in wanted)), strict=True))
    shown = []
    for basket in found:
        lines, total = [], Decimal(0)
        for line in basket["lines"]:
            product = products.get(line["product_id"])
            if product is None:
                continue
            view = views.product_view(product)
            lines.append({"name": view["name"], "quantity": views.qty(line["quantity"]), "unit": view["unit"]})
            if view["price_value"]:
                total += Decimal(view["price_value"]) * Decimal(str(line["quantity"]))
        shown.append({"id": basket["id"], "cycle_id": basket["cycle_id"], "name": basket["name"],
                      "description": basket.get("description", ""), "lines": lines, "price": views.bs(total)})
    return shown


async def open_baskets(web: WebSession) -> list[dict]:
    """The agrobolsas of the newest open cycle, for the shop."""
    if web.principal is None:
        return []
    try:
        cycles = views.items_of(await web.call("GET", "/api/orders/cycles", params={"status": "open", "limit": 1}))
    except UpstreamError:
        return []
    return await baskets_of(web, cycles[0]["id"]) if cycles else []
