"""Consolidation at close: case allocation, pick lists per producer, packing lists per delivery
point, totals per organization, and the `cycle.closed` event.

The lists are SQL aggregations over the order lines (which carry snapshots of producer, point and
price), so a cycle of 100k lines is summed by the database, not by Python loops over objects.
"""

import logging
from collections import defaultdict
from decimal import Decimal

from sqlalchemy import bindparam, case, func, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import Conflict
from services.common.events import emit
from services.common.money import apply_rate, from_centavos
from services.common.tables import utcnow
from services.common.units import CONVERSIONS, Unit
from services.orders.case_allocation import Demand, allocate_cases
from services.orders.cycles import aware, cycle_out, load_cycle
from services.orders.fees import PricedLine, compute_fees, line_kg
from services.orders.models import cycles, order_lines, orders

log = logging.getLogger("mercado.orders")

ACTIVE = ("placed", "packed", "ready", "picked_up", "no_show")
CHUNK = 1000

L = order_lines


def _final_quantity():
    return func.coalesce(L.c.allocated_quantity, L.c.quantity)


def _kg_expression(quantity):
    """Weight of a line in SQL: exact factor for weight units, the product's kg per unit otherwise."""
    whens = [(L.c.unit == unit.value, quantity * literal(factor))
             for unit, (base, factor) in CONVERSIONS.items() if base == Unit.kg]
    return case(*whens, else_=quantity * L.c.kg_per_unit)


def _value_expression():
    """Line value after allocation (line_total is rewritten at consolidation, so it is exact)."""
    return L.c.line_total


def _q(value) -> str:
    dec = Decimal(value or 0)
    if dec == dec.to_integral():
        return format(dec.quantize(Decimal(1)), "f")
    return format(dec.normalize(), "f")


def _kg(value) -> str | None:
    if value is None:
        return None
    return format(Decimal(value).quantize(Decimal("0.001")), "f")


async def pick_rows(*, session: AsyncSession, cycle_id: int):
    """Per producer, product and delivery point: quantity, value and weight (one GROUP BY)."""
    qty = func.sum(_final_quantity())
    query = (
        select(L.c.producer_id, L.c.producer_name, L.c.organization_id, L.c.product_id, L.c.product_name,
               L.c.unit, L.c.unit_price, L.c.delivery_point_id, qty.label("quantity"),
               func.sum(_value_expression()).label("value"), func.sum(_kg_expression(_final_quantity())).label("kg"),
               func.max(L.c.producer_lat).label("lat"), func.max(L.c.producer_lon).label("lon"))
        .select_from(L.join(orders, orders.c.id == L.c.order_id))
        .where(L.c.cycle_id == cycle_id, orders.c.status.in_(ACTIVE))
        .group_by(L.c.producer_id, L.c.producer_name, L.c.organization_id, L.c.product_id, L.c.product_name,
                  L.c.unit, L.c.unit_price, L.c.delivery_point_id)
        .order_by(L.c.producer_id, L.c.product_id, L.c.delivery_point_id)
    )
    return (await session.execute(query)).all()


def pick_lists(rows) -> tuple[list[dict], list[dict]]:
    """Fold the aggregated rows into producers (product by product, split per point) and organizations."""
    producers: dict[int, dict] = {}
    organizations: dict = {}
    for r in rows:
        producer = producers.get(r.producer_id)
        if producer is None:
            producer = producers[r.producer_id] = {
                "producer_id": r.producer_id, "producer_name": r.producer_name,
                "organization_id": r.organization_id, "pickup": {"lat": r.lat, "lon": r.lon},
                "products": {}, "value": 0, "kg": Decimal(0)}
        key = (r.product_id, r.unit_price)
        product = producer["products"].get(key)
        if product is None:
            product = producer["products"][key] = {
                "product_id": r.product_id, "product_name": r.product_name, "unit": r.unit,
                "unit_price": r.unit_price, "quantity": Decimal(0), "value": 0, "kg": None, "by_point": []}
        product["quantity"] += Decimal(r.quantity)
        product["value"] += int(r.value)
        if r.kg is not None:
            product["kg"] = (product["kg"] or Decimal(0)) + Decimal(r.kg)
            producer["kg"] += Decimal(r.kg)
        product["by_point"].append({"delivery_point_id": r.delivery_point_id, "quantity": _q(r.quantity)})
        producer["value"] += int(r.value)
        org = organizations.setdefault(r.organization_id, {"organization_id": r.organization_id,
                                                           "producers": set(), "value": 0, "kg": Decimal(0)})
        org["producers"].add(r.producer_id)
        org["value"] += int(r.value)
        org["kg"] += Decimal(r.kg or 0)
    producer_list = []
    for p in producers.values():
        producer_list.append({
            "producer_id": p["producer_id"], "producer_name": p["producer_name"],
            "organization_id": p["organization_id"],
            "pickup": {"lat": _coord(p["pickup"]["lat"]), "lon": _coord(p["pickup"]["lon"])},
            "products": [{"product_id": x["product_id"], "product_name": x["product_name"], "unit": x["unit"],
                          "unit_price": str(from_centavos(x["unit_price"])), "quantity": _q(x["quantity"]),
                          "value": str(from_centavos(x["value"])), "kg": _kg(x["kg"]), "by_point": x["by_point"]}
                         for x in p["products"].values()],
            "value": str(from_centavos(p["value"])), "kg": _kg(p["kg"])})
    org_list = [{"organization_id": o["organization_id"], "producers": len(o["producers"]),
                 "value": str(from_centavos(o["value"])), "kg": _kg(o["kg"])}
                for o in sorted(organizations.values(), key=lambda o: (o["organization_id"] is None,
                                                                        o["organization_id"] or 0))]
    return producer_list, org_list


def _coord(value):
    return None if value is None else float(value)


async def packing_lists(*, session: AsyncSession, cycle_id: int) -> list[dict]:
    """Per delivery point, one bag per order: consumer, pickup code, lines, total."""
    order_rows = (await session.execute(
        select(orders.c.id, orders.c.delivery_point_id, orders.c.consumer_account_id, orders.c.consumer_name,
               orders.c.pickup_code, orders.c.total, orders.c.status)
        .where(orders.c.cycle_id == cycle_id, orders.c.status.in_(ACTIVE))
        .order_by(orders.c.delivery_point_id, orders.c.id))).all()
    line_rows = (await session.execute(
        select(L.c.order_id, L.c.product_id, L.c.product_name, L.c.producer_name, L.c.unit,
               _final_quantity().label("quantity"), L.c.line_total)
        .select_from(L.join(orders, orders.c.id == L.c.order_id))
        .where(L.c.cycle_id == cycle_id, orders.c.status.in_(ACTIVE))
        .order_by(L.c.order_id, L.c.position))).all()
    lines_of: dict[int, list] = defaultdict(list)
    for ln in line_rows:
        lines_of[ln.order_id].append({"product_id": ln.product_id, "product_name": ln.product_name,
                                      "producer_name": ln.producer_name, "unit": ln.unit,
                                      "quantity": _q(ln.quantity),
                                      "line_total": str(from_centavos(ln.line_total))})
    points: dict[int, dict] = {}
    for o in order_rows:
        point = points.setdefault(o.delivery_point_id, {"delivery_point_id": o.delivery_point_id, "bags": []})
        point["bags"].append({"order_id": o.id, "consumer_account_id": o.consumer_account_id,
                              "consumer_name": o.consumer_name, "pickup_code": o.pickup_code,
                              "status": o.status, "total": str(from_centavos(o.total)), "lines": lines_of[o.id]})
    for point in points.values():
        point["orders"] = len(point["bags"])
    return list(points.values())


async def build_consolidation(*, session: AsyncSession, cycle_id: int) -> dict:
    """The consolidation document of a cycle (what the export formats print)."""
    cycle = await load_cycle(session=session, cycle_id=cycle_id)
    producers, organizations = pick_lists(await pick_rows(session=session, cycle_id=cycle_id))
    points = await packing_lists(session=session, cycle_id=cycle_id)
    totals = (await session.execute(
        select(func.count(), func.coalesce(func.sum(orders.c.subtotal), 0), func.coalesce(func.sum(orders.c.fees_total), 0))
        .where(orders.c.cycle_id == cycle_id, orders.c.status.in_(ACTIVE)))).one()
    out = cycle_out(cycle)
    return {
        "cycle": {k: out[k] for k in ("id", "name", "status", "delivery_date", "closes_at", "fee_rules")},
        "producers": producers, "delivery_points": points, "organizations": organizations,
        "totals": {"orders": totals[0], "products_value": str(from_centavos(int(totals[1]))),
                   "fees": str(from_centavos(int(totals[2])))},
    }


async def plan_case_allocation(*, session: AsyncSession, cycle_id: int) -> tuple[list[dict], list[dict]]:
    """Allocate every case product of the cycle. Returns (line changes, case summaries)."""
    rows = (await session.execute(
        select(L.c.line_id, L.c.order_id, L.c.product_id, L.c.product_name, L.c.case_size, L.c.quantity,
               L.c.tolerance, L.c.unit_price, L.c.unit)
        .select_from(L.join(orders, orders.c.id == L.c.order_id))
        .where(L.c.cycle_id == cycle_id, L.c.case_size.is_not(None), orders.c.status.in_(ACTIVE))
        .order_by(L.c.product_id, orders.c.placed_at, orders.c.id, L.c.position))).all()
    by_product: dict[int, list] = defaultdict(list)
    for r in rows:
        by_product[r.product_id].append(r)
    changes, summaries = [], []
    for product_id, lines in by_product.items():
        result = allocate_cases(case_size=Decimal(lines[0].case_size), demands=[
            Demand(key=r.line_id, quantity=Decimal(r.quantity), tolerance=Decimal(r.tolerance)) for r in lines])
        summaries.append({"product_id": product_id, "product_name": lines[0].product_name,
                          "case_size": _q(result.case_size), "cases": result.cases,
                          "firm_total": _q(result.firm_total), "tolerance_total": _q(result.tolerance_total),
                          "allocated_total": _q(result.allocated_total)})
        for r, a in zip(lines, result.lines, strict=True):
            changes.append({"line_id": r.line_id, "order_id": r.order_id, "product_id": product_id,
                            "product_name": r.product_name, "unit": r.unit,
                            "ordered": Decimal(r.quantity), "tolerance": Decimal(r.tolerance),
                            "reserved": Decimal(r.quantity) + Decimal(r.tolerance), "allocated": a.allocated,
                            "cut": a.cut, "extra": a.tolerance_served,
                            "line_total": apply_rate(r.unit_price, a.allocated)})
    return changes, summaries


async def _sync_catalog(*, catalog, cycle_id: int, changes: list[dict], active_line_ids: list[str]) -> None:
    """Lower reservations cut by case allocation, then turn every active line's reservation into sold."""
    for ch in changes:
        if ch["allocated"] == ch["reserved"]:
            continue
        if ch["allocated"] == 0:
            await catalog.call("POST", "/internal/reservations/release", json={"line_ids": [ch["line_id"]]},
                               idempotency_key=f"cycle-{cycle_id}-cut-{ch['line_id']}")
        else:
            await catalog.call("POST", "/internal/reservations/adjust",
                               json={"line_id": ch["line_id"], "quantity": _q(ch["allocated"])},
                               idempotency_key=f"cycle-{cycle_id}-adjust-{ch['line_id']}")
    for start in range(0, len(active_line_ids), CHUNK):
        chunk = active_line_ids[start:start + CHUNK]
        await catalog.call("POST", "/internal/reservations/commit", json={"line_ids": chunk},
                           idempotency_key=f"cycle-{cycle_id}-commit-{start}")


async def _rewrite_orders(*, session: AsyncSession, cycle, changes: list[dict]) -> None:
    """Write allocated quantities; re-price and re-fee orders whose case lines changed, with their cuts."""
    await session.execute(update(L).where(L.c.cycle_id == cycle.id, L.c.case_size.is_(None))
                          .values(allocated_quantity=L.c.quantity))
    if not changes:
        return
    await session.execute(
        update(L).where(L.c.line_id == _bind("b_line_id")).values(
            allocated_quantity=_bind("b_allocated"), line_total=_bind("b_line_total")).execution_options(
            synchronize_session=False),
        [{"b_line_id": ch["line_id"], "b_allocated": ch["allocated"], "b_line_total": ch["line_total"]}
         for ch in changes])
    adjusted: dict[int, list] = defaultdict(list)
    for ch in changes:
        if ch["allocated"] != ch["ordered"]:
            adjusted[ch["order_id"]].append({
                "line_id": ch["line_id"], "product_id": ch["product_id"], "product_name": ch["product_name"],
                "ordered": _q(ch["ordered"]), "tolerance": _q(ch["tolerance"]), "allocated": _q(ch["allocated"]),
                "cut": _q(ch["cut"]), "extra": _q(ch["extra"]), "unit": ch["unit"],
                "message": (f"{ch['product_name']}: se entregan {_q(ch['allocated'])} {ch['unit']} de "
                            f"{_q(ch['ordered'])} pedidos (cajas completas)")})
    changed_orders = sorted({ch["order_id"] for ch in changes})
    for start in range(0, len(changed_orders), CHUNK):
        ids = changed_orders[start:start + CHUNK]
        lines = (await session.execute(select(L.c.order_id, L.c.allocated_quantity, L.c.quantity, L.c.line_total,
                                              L.c.unit, L.c.kg_per_unit).where(L.c.order_id.in_(ids)))).all()
        priced: dict[int, list] = defaultdict(list)
        for ln in lines:
            q = ln.allocated_quantity if ln.allocated_quantity is not None else ln.quantity
            priced[ln.order_id].append(PricedLine(quantity=Decimal(q), line_total=ln.line_total,
                                                  kg=line_kg(quantity=q, unit=ln.unit, kg_per_unit=ln.kg_per_unit)))
        for order_id in ids:
            kept = [p for p in priced[order_id] if p.quantity > 0]
            fees = compute_fees(rules=cycle.fee_rules, lines=kept)
            subtotal = sum(p.line_total for p in kept)
            fees_total = sum(f["amount"] for f in fees)
            await session.execute(update(orders).where(orders.c.id == order_id).values(
                subtotal=subtotal, fees=fees, fees_total=fees_total, total=subtotal + fees_total,
                adjustments=adjusted.get(order_id) or None, updated_at=utcnow()))


def _bind(name: str):
    return bindparam(name)


async def closed_event_payload(*, session: AsyncSession, cycle) -> dict:
    rows = await pick_rows(session=session, cycle_id=cycle.id)
    consignments: dict[tuple, dict] = {}
    for r in rows:
        c = consignments.setdefault((r.producer_id, r.delivery_point_id), {
            "producer_id": str(r.producer_id), "producer_name": r.producer_name,
            "organization_id": None if r.organization_id is None else str(r.organization_id),
            "delivery_point_id": str(r.delivery_point_id),
            "pickup": {"lat": _coord(r.lat), "lon": _coord(r.lon)}, "lines": []})
        c["lines"].append({"product_id": str(r.product_id), "product_name": r.product_name,
                           "quantity": _q(r.quantity), "unit": r.unit,
                           "unit_price": str(from_centavos(r.unit_price)), "kg": _kg(r.kg)})
    bags = (await session.execute(select(orders.c.id, orders.c.delivery_point_id, orders.c.consumer_account_id)
                                  .where(orders.c.cycle_id == cycle.id, orders.c.status.in_(ACTIVE))
                                  .order_by(orders.c.delivery_point_id, orders.c.id))).all()
    return {"cycle_id": str(cycle.id), "name": cycle.name, "delivery_date": cycle.delivery_date.isoformat(),
            "fee_rules": cycle.fee_rules, "consignments": list(consignments.values()),
            "bags": [{"order_id": str(b.id), "delivery_point_id": str(b.delivery_point_id),
                      "consumer_account_id": str(b.consumer_account_id)} for b in bags]}


async def consolidate_cycle(*, db, kernel, clients, cycle_id: int) -> dict:
    """Closed -> consolidated: allocate cases, settle reservations in catalog, rewrite totals, emit
    `cycle.closed`. Safe to repeat: catalog calls are idempotent and the last step is conditional."""
    async with db.session() as session:
        cycle = await load_cycle(session=session, cycle_id=cycle_id)
        if cycle.status != "closed":
            if cycle.status in ("consolidated", "delivered", "settled"):
                return {"status": cycle.status, "cases": []}
            raise Conflict(f"a {cycle.status} cycle cannot be consolidated; close it first",
                           code="cycle_not_closed")
        changes, summaries = await plan_case_allocation(session=session, cycle_id=cycle_id)
        active_ids = (await session.execute(select(L.c.line_id).select_from(L.join(orders, orders.c.id == L.c.order_id))
                                            .where(L.c.cycle_id == cycle_id, orders.c.status.in_(ACTIVE))
                                            .order_by(L.c.id))).scalars().all()
    cut_to_zero = {ch["line_id"] for ch in changes if ch["allocated"] == 0}
    await _sync_catalog(catalog=clients["catalog"], cycle_id=cycle_id, changes=changes,
                        active_line_ids=[i for i in active_ids if i not in cut_to_zero])
    async with db.session() as session:
        cycle = await load_cycle(session=session, cycle_id=cycle_id, lock="update")
        if cycle.status != "closed":
            return {"status": cycle.status, "cases": summaries}
        await _rewrite_orders(session=session, cycle=cycle, changes=changes)
        payload = await closed_event_payload(session=session, cycle=cycle)
        await session.execute(update(cycles).where(cycles.c.id == cycle_id)
                              .values(status="consolidated", consolidated_at=utcnow()))
        await emit(session, kernel, event_type="cycle.closed", aggregate_id=cycle_id, payload=payload)
    log.info("cycle consolidated", extra={"cycle_id": cycle_id, "lines": len(active_ids),
                                          "closed_at": str(aware(cycle.closed_at))})
    return {"status": "consolidated", "cases": summaries}
