"""Consolidation at close: case allocation, pick lists per producer, packing lists per delivery
point, totals per organization, and the `cycle.closed` event.

The lists are SQL aggregations over the order lines (which carry snapshots of producer, point and
price), so a cycle of 100k lines is summed by the database, not by Python loops over objects.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from operator import itemgetter

from sqlalchemy import BigInteger, String, bindparam, cast, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import Conflict
from services.common.events import emit
from services.common.money import apply_rate, from_centavos
from services.common.tables import utcnow
from services.common.units import CONVERSIONS, Unit, quantity_text
from services.orders.case_allocation import Demand, allocate_cases
from services.orders.cycles import aware, cycle_out, load_cycle
from services.orders.fees import PricedLine, compute_fees, line_kg
from services.orders.models import ACTIVE_ORDER_STATUSES, cycles, order_lines, orders
from services.orders.placement import release_cancelled

log = logging.getLogger("mercado.orders")

ACTIVE = ACTIVE_ORDER_STATUSES
CHUNK = 1000

L = order_lines


def _final_quantity():
    return func.coalesce(L.c.allocated_quantity, L.c.quantity)


_UNITS = {u.value for u in Unit}


def _bs(centavos: int) -> str:
    """Centavos as a decimal string of bolivianos ("12.50"), without Decimal arithmetic per line."""
    sign = "-" if centavos < 0 else ""
    whole, cents = divmod(abs(int(centavos)), 100)
    return f"{sign}{whole}.{cents:02d}"


def _thousandths(milli: int) -> str:
    """Thousandths of a unit as `quantity_text` writes the quantity ("3", "2.5", "0.125"), without Decimal."""
    sign = "-" if milli < 0 else ""
    whole, frac = divmod(abs(milli), 1000)
    return f"{sign}{whole}.{frac:03d}".rstrip("0") if frac else f"{sign}{whole}"


def _kg(value) -> str | None:
    if value is None:
        return None
    return format(Decimal(value).quantize(Decimal("0.001")), "f")


class _Memo(dict):
    """`fn(key)` for each distinct key, computed once: a cycle repeats few quantities and amounts."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def __missing__(self, key):
        value = self[key] = self.fn(key)
        return value


def _quantity_texts() -> _Memo:
    """Thousandths (an int, or as the database wrote them) -> the quantity's text."""
    return _Memo(lambda milli: _thousandths(int(milli)))


def _thousandths_of(quantity):
    """A quantity column in thousandths, as an integer (the columns keep three decimals)."""
    return cast(func.round(quantity * 1000), BigInteger)


_POINT = itemgetter("delivery_point_id")


@dataclass(frozen=True)
class Picks:
    """What a cycle's producers bring to each point, summed by the database.

    products: one row per producer, product and price, in that order: (producer_id, product_id,
    unit_price, thousandths, centavos, first line id, points, thousandths per point), quantities in
    thousandths and values in centavos as integers (the quantity columns keep three decimals), the
    points and their quantities as two comma-separated lists in the same order. One row per product
    rather than per point: fetching rows is what costs, and nothing is a Decimal per point.
    described: product_id -> (producer_name, organization_id, product_name, unit, lat, lon, kg per
    unit or None, producer_gender, municipality_code), from the product's first line.
    """

    products: list
    described: dict[int, tuple]

    @staticmethod
    def points(row) -> list[tuple[int, int]]:
        """(delivery_point_id, thousandths) of a product row, by point."""
        return sorted(zip(map(int, row[6].split(",")), map(int, row[7].split(",")), strict=True))


async def pick_rows(*, session: AsyncSession, cycle_id: int) -> Picks:
    """One aggregation on ids only (names would make the database hash text for every line): per
    point, then per product; then one lookup by primary key of a representative line per product for
    names, unit and pickup place."""
    per_point = (
        select(L.c.producer_id, L.c.product_id, L.c.unit_price, L.c.delivery_point_id,
               _thousandths_of(func.sum(_final_quantity())).label("milli"),
               cast(func.sum(L.c.line_total), BigInteger).label("value"), func.min(L.c.id).label("first"))
        .select_from(L.join(orders, orders.c.id == L.c.order_id))
        .where(L.c.cycle_id == cycle_id, orders.c.status.in_(ACTIVE))
        .group_by(L.c.producer_id, L.c.product_id, L.c.unit_price, L.c.delivery_point_id)
        .subquery())
    g = per_point.c
    products = (await session.execute(
        select(g.producer_id, g.product_id, g.unit_price, cast(func.sum(g.milli), BigInteger),
               cast(func.sum(g.value), BigInteger), func.min(g.first),
               func.aggregate_strings(cast(g.delivery_point_id, String), ","),
               func.aggregate_strings(cast(g.milli, String), ","))
        .group_by(g.producer_id, g.product_id, g.unit_price)
        .order_by(g.producer_id, g.product_id, g.unit_price))).all()
    representative: dict[int, int] = {}
    for row in products:
        known = representative.get(row[1])
        if known is None or row[5] < known:
            representative[row[1]] = row[5]
    described: dict[int, tuple] = {}
    ids = list(representative.values())
    for start in range(0, len(ids), 5000):
        for (product_id, producer_name, organization_id, product_name, unit, lat, lon, kg_per_unit, gender,
             municipality) in (await session.execute(
                select(L.c.product_id, L.c.producer_name, L.c.organization_id, L.c.product_name, L.c.unit,
                       L.c.producer_lat, L.c.producer_lon, L.c.kg_per_unit, L.c.producer_gender,
                       L.c.municipality_code)
                .where(L.c.id.in_(ids[start:start + 5000])))).all():
            # a product's weight per unit is constant: weigh each sum instead of every line
            factor = CONVERSIONS.get(unit) if unit in _UNITS else None
            described[product_id] = (producer_name, organization_id, product_name, unit, lat, lon,
                                     factor[1] if factor and factor[0] == Unit.kg else kg_per_unit, gender,
                                     municipality)
    return Picks(products=products, described=described)


def _weight(milli: int, per_unit) -> Decimal | None:
    return None if per_unit is None else Decimal(milli).scaleb(-3) * per_unit


def pick_lists(picks: Picks) -> tuple[list[dict], list[dict]]:
    """Fold the product rows into producers (product by product, split per point) and organizations:
    per point only one small dict each, sums and weights once per product."""
    described = picks.described
    texts = _quantity_texts()
    producers: dict[int, dict] = {}
    organizations: dict = {}
    zero = Decimal(0)
    for producer_id, product_id, price, milli, value, _, points, millis in picks.products:
        by_point = [{"delivery_point_id": int(point), "quantity": texts[m]}
                    for point, m in zip(points.split(","), millis.split(","), strict=True)]
        by_point.sort(key=_POINT)
        producer_name, organization_id, product_name, unit, lat, lon, per_unit, _, _ = described[product_id]
        kg = _weight(milli, per_unit)
        producer = producers.get(producer_id)
        if producer is None:
            producer = producers[producer_id] = {
                "producer_id": producer_id, "producer_name": producer_name, "organization_id": organization_id,
                "pickup": None, "products": [], "value": 0, "kg": zero}
        producer["pickup"] = (lat, lon)  # the producer's last product's, as it always was
        producer["products"].append({"product_id": product_id, "product_name": product_name, "unit": unit,
                                     "unit_price": _bs(price), "quantity": _thousandths(milli),
                                     "value": _bs(value), "kg": _kg(kg), "by_point": by_point})
        producer["value"] += value
        org = organizations.get(organization_id)  # each line's snapshot of the producer's organization
        if org is None:
            org = organizations[organization_id] = {"organization_id": organization_id, "producers": set(),
                                                    "value": 0, "kg": zero}
        org["producers"].add(producer_id)
        org["value"] += value
        if kg is not None:
            producer["kg"] += kg
            org["kg"] += kg
    producer_list = [{
        "producer_id": p["producer_id"], "producer_name": p["producer_name"],
        "organization_id": p["organization_id"],
        "pickup": {"lat": _coord(p["pickup"][0]), "lon": _coord(p["pickup"][1])},
        "products": p["products"], "value": _bs(p["value"]), "kg": _kg(p["kg"])} for p in producers.values()]
    org_list = [{"organization_id": o["organization_id"], "producers": len(o["producers"]),
                 "value": _bs(o["value"]), "kg": _kg(o["kg"])}
                for o in sorted(organizations.values(), key=lambda o: (o["organization_id"] is None,
                                                                        o["organization_id"] or 0))]
    return producer_list, org_list


def _coord(value):
    return None if value is None else float(value)


async def packing_lists(*, session: AsyncSession, cycle_id: int) -> list[dict]:
    """Per delivery point, one bag per order: consumer, pickup code, lines, total.

    Lines are read for the whole cycle in index order and kept only for active orders (a set
    lookup here is cheaper than a join in the database for every line)."""
    order_rows = (await session.execute(
        select(orders.c.id, orders.c.delivery_point_id, orders.c.consumer_account_id, orders.c.consumer_name,
               orders.c.pickup_code, orders.c.total, orders.c.status)
        .where(orders.c.cycle_id == cycle_id, orders.c.status.in_(ACTIVE))
        .order_by(orders.c.delivery_point_id, orders.c.id))).all()
    lines_of: dict[int, list] = {o[0]: [] for o in order_rows}
    line_rows = (await session.execute(
        select(L.c.order_id, L.c.product_id, L.c.product_name, L.c.producer_name, L.c.unit,
               _thousandths_of(_final_quantity()), L.c.line_total)
        .where(L.c.cycle_id == cycle_id).order_by(L.c.id))).all()  # an order's lines are inserted in position order
    texts, amounts = _quantity_texts(), _Memo(_bs)
    for order_id, product_id, product_name, producer_name, unit, milli, line_total in line_rows:
        bag = lines_of.get(order_id)
        if bag is not None:
            bag.append({"product_id": product_id, "product_name": product_name, "producer_name": producer_name,
                        "unit": unit, "quantity": texts[milli], "line_total": amounts[line_total]})
    points: dict[int, dict] = {}
    for order_id, point_id, consumer_id, consumer_name, pickup_code, total, status in order_rows:
        point = points.get(point_id)
        if point is None:
            point = points[point_id] = {"delivery_point_id": point_id, "bags": []}
        point["bags"].append({"order_id": order_id, "consumer_account_id": consumer_id,
                              "consumer_name": consumer_name, "pickup_code": pickup_code,
                              "status": status, "total": amounts[total], "lines": lines_of[order_id]})
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
    waiting = (await session.execute(
        select(orders.c.delivery_point_id, func.count()).where(orders.c.cycle_id == cycle_id,
                                                               orders.c.status == "waitlisted")
        .group_by(orders.c.delivery_point_id).order_by(orders.c.delivery_point_id))).all()
    out = cycle_out(cycle)
    return {
        "cycle": {k: out[k] for k in ("id", "name", "status", "delivery_date", "closes_at", "fee_rules")},
        "producers": producers, "delivery_points": points, "organizations": organizations,
        "totals": {"orders": totals[0], "products_value": str(from_centavos(int(totals[1]))),
                   "fees": str(from_centavos(int(totals[2])))},
        # orders waiting for a slot: not in the lists nor the totals (cancelled when the cycle closes)
        "waitlisted": {"orders": sum(n for _, n in waiting),
                       "delivery_points": [{"delivery_point_id": p, "orders": n} for p, n in waiting]},
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
                          "case_size": quantity_text(result.case_size), "cases": result.cases,
                          "firm_total": quantity_text(result.firm_total), "tolerance_total": quantity_text(result.tolerance_total),
                          "allocated_total": quantity_text(result.allocated_total)})
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
                               json={"line_id": ch["line_id"], "quantity": quantity_text(ch["allocated"])},
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
                "ordered": quantity_text(ch["ordered"]), "tolerance": quantity_text(ch["tolerance"]), "allocated": quantity_text(ch["allocated"]),
                "cut": quantity_text(ch["cut"]), "extra": quantity_text(ch["extra"]), "unit": ch["unit"],
                "message": (f"{ch['product_name']}: se entregan {quantity_text(ch['allocated'])} {ch['unit']} de "
                            f"{quantity_text(ch['ordered'])} pedidos (cajas completas)")})
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
    picks = await pick_rows(session=session, cycle_id=cycle.id)
    consignments: dict[tuple, dict] = {}
    for row in picks.products:
        producer_id, product_id, price = row[0], row[1], row[2]
        producer_name, organization_id, product_name, unit, lat, lon, per_unit, gender, municipality = (
            picks.described[product_id])
        for point, milli in Picks.points(row):
            c = consignments.setdefault((producer_id, point), {
                "producer_id": producer_id, "producer_name": producer_name, "producer_gender": gender,
                "municipality_code": municipality, "organization_id": organization_id,
                "delivery_point_id": point, "pickup": {"lat": _coord(lat), "lon": _coord(lon)}, "lines": []})
            c["lines"].append({"product_id": product_id, "product_name": product_name,
                               "quantity": _thousandths(milli), "unit": unit,
                               "unit_price": _bs(price), "kg": _kg(_weight(milli, per_unit))})
    bags = (await session.execute(select(orders.c.id, orders.c.delivery_point_id, orders.c.consumer_account_id)
                                  .where(orders.c.cycle_id == cycle.id, orders.c.status.in_(ACTIVE))
                                  .order_by(orders.c.delivery_point_id, orders.c.id))).all()
    return {"cycle_id": cycle.id, "name": cycle.name, "delivery_date": cycle.delivery_date.isoformat(),
            "coordinator_account_id": cycle.coordinator_account_id, "delivery_point_ids": list(cycle.point_ids),
            "fee_rules": cycle.fee_rules, "consignments": list(consignments.values()),
            "bags": [{"order_id": b.id, "delivery_point_id": b.delivery_point_id,
                      "consumer_account_id": b.consumer_account_id} for b in bags]}


async def consolidate_cycle(*, db, kernel, clients, cycle_id: int) -> dict:
    """Closed -> consolidated: allocate cases, settle reservations in catalog, rewrite totals, emit
    `cycle.closed`. Safe to repeat: catalog calls are idempotent and the last step is conditional.
    First the stock of the orders cancelled at close (those still waiting) goes back to catalog."""
    await release_cancelled(db=db, clients=clients, cycle_id=cycle_id)
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
