"""The price of an order before it is placed: lines, fees and total, without reserving anything.

Prices come from catalog's public product pages (`GET /products/{id}`); placement later snapshots
the price catalog answers at reservation time, so a quote is indicative between the two.
"""

from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import Conflict, DomainError, InvalidInput, ServiceUnavailable
from services.common.money import apply_rate, from_centavos, to_centavos
from services.orders.fees import PricedLine, compute_fees, line_kg
from services.orders.placement import check_cycle_accepts_orders, requested_lines


def _price_of(product: dict) -> Decimal:
    price = product.get("unit_price", product.get("price"))
    if isinstance(price, dict):
        price = price.get("amount")
    if price is None:
        raise ServiceUnavailable("catalog did not say the product's price", details={"service": "catalog"})
    return Decimal(str(price))


async def describe_product(*, catalog, product_id: int) -> dict:
    try:
        product = await catalog.call("GET", f"/products/{product_id}")
    except ServiceUnavailable:
        raise
    except DomainError as exc:
        if exc.status == 404:
            raise InvalidInput(f"product {product_id} does not exist", code="product_not_found",
                               details={"product_id": product_id}) from None
        raise
    if product.get("active") is False or product.get("status") in ("inactive", "archived", "deleted"):
        raise Conflict(f"{product.get('name', product_id)} is not on offer any more", code="product_inactive",
                       details={"product_id": product_id})
    return product


async def quote_order(*, session: AsyncSession, catalog, body) -> dict:
    cycle = await check_cycle_accepts_orders(session=session, cycle_id=body.cycle_id,
                                             point_id=body.delivery_point_id)
    lines = await requested_lines(session=session, cycle=cycle, body=body)
    products: dict[int, dict] = {}
    for line in lines:
        if line["product_id"] not in products:
            products[line["product_id"]] = await describe_product(catalog=catalog, product_id=line["product_id"])
    out, priced = [], []
    for line in lines:
        product = products[line["product_id"]]
        price = to_centavos(_price_of(product))
        total = apply_rate(price, line["quantity"])
        unit = str(product.get("unit", ""))
        kg_per_unit = product.get("kg_per_unit")
        priced.append(PricedLine(quantity=line["quantity"], line_total=total, kg=line_kg(
            quantity=line["quantity"], unit=unit,
            kg_per_unit=Decimal(str(kg_per_unit)) if kg_per_unit is not None else None)))
        out.append({"product_id": line["product_id"], "product_name": product.get("name", ""), "unit": unit,
                    "quantity": line["quantity"],
                    "tolerance": line["tolerance"] if product.get("case_size") else Decimal(0),
                    "unit_price": from_centavos(price), "line_total": from_centavos(total),
                    "basket_id": line["basket_id"]})
    fees = compute_fees(rules=cycle.fee_rules, lines=priced)
    subtotal = sum(p.line_total for p in priced)
    fees_total = sum(f["amount"] for f in fees)
    return {"cycle_id": cycle.id, "delivery_point_id": body.delivery_point_id, "lines": out,
            "subtotal": from_centavos(subtotal), "fees": [{**f, "amount": from_centavos(f["amount"])} for f in fees],
            "fees_total": from_centavos(fees_total), "total": from_centavos(subtotal + fees_total)}
