"""Fetching the services' aggregate endpoints for monitoring, and reading them into `Sources`.

The gateway composes; it never reads a service's database. It asks, with the service credential:
- catalog  `GET /stats/supply`      registered producers by gender, organizations, today's offer,
                                    the reference prices valid on the period's last day (today if the
                                    period ends later or is open: `reference_day`) against today's
                                    asking prices;
- orders   `GET /stats/sales`       quantities and values sold at the price paid, and producers
                                    with sales, per producer municipality, in the period;
- delivery `GET /stats/deliveries`  orders, pickups and no-shows per point in the period, and
           `GET /points`            where the points are (for the map);
- payments `GET /stats/advances`    advances disbursed in the period: count, value, fees, women's share.
A department is resolved to its municipalities through catalog `GET /municipalities`. The calls run
concurrently. A service that is down makes the report fail with 503 (a partial report would be
misread as a drop); an aggregate a service does not offer (404) leaves its part empty, with a
warning in the report. Nothing personal is read: only counts, sums and place names.
"""

import asyncio
from datetime import date
from decimal import Decimal

from fastapi import Request

from gateway.monitoring.access import Scope
from gateway.monitoring.figures import Offer, PointLine, Reference, Sale, Sources, fold, sum_by_gender
from services.common import clock
from services.common.errors import DomainError
from services.common.http import ServiceClient
from services.common.money import to_centavos
from services.common.settings import SERVICE_NAMES

MISSING = {
    "catalog": "el catálogo no ofrece sus agregados (/stats/supply): sin productores, organizaciones ni oferta",
    "orders": "pedidos no ofrece sus agregados (/stats/sales): sin ventas ni precios pagados",
    "delivery": "entregas no ofrece sus agregados (/stats/deliveries): sin pedidos por punto",
    "payments": "pagos no ofrece sus agregados (/stats/advances): sin adelantos",
}


def clients(request: Request) -> dict[str, ServiceClient]:
    """The monitoring clients of this gateway process (one pooled client per service)."""
    state = request.app.state
    existing = getattr(state, "monitoring_clients", None)
    if existing is None:
        settings = state.settings
        secret = getattr(state, "service_secret", None) or settings.resolved_service_secret()
        existing = {name: ServiceClient(name, settings.service_url(name), secret=secret, caller="gateway",
                                        timeout=settings.http_timeout_seconds)
                    for name in SERVICE_NAMES}
        state.monitoring_clients = existing
    return existing


async def close_clients(app) -> None:
    for client in (getattr(app.state, "monitoring_clients", None) or {}).values():
        await client.aclose()
    app.state.monitoring_clients = None


async def _get(client: ServiceClient, path: str, params) -> dict | list | None:
    try:
        return await client.call("GET", path, params=params)
    except DomainError as exc:
        if exc.status in (404, 405) and exc.code in ("not_found", "upstream_error", "method_not_allowed"):
            return None  # the service does not offer this aggregate
        raise


def _period(scope: Scope) -> list[tuple[str, str]]:
    out = []
    if scope.date_from:
        out.append(("from", scope.date_from.isoformat()))
    if scope.date_to:
        out.append(("to", scope.date_to.isoformat()))
    return out


def reference_day(scope: Scope) -> date:
    """The day whose reference prices judge the period's sales: its last day, or today when the period
    is open or ends later (a price announced for the future judges no sale yet)."""
    today = clock.today()
    return min(scope.date_to, today) if scope.date_to else today


async def municipality_codes(cl: dict[str, ServiceClient], scope: Scope) -> list[str] | None:
    """The municipalities of the scope; None means all of them."""
    if scope.municipality:
        return [scope.municipality]
    if not scope.department:
        return None
    return [m["code"] for m in await every_item(cl["catalog"], "/municipalities", [("limit", "100")])
            if m.get("department") == scope.department]


async def every_item(client: ServiceClient, path: str, params: list, *, max_pages: int = 50) -> list[dict]:
    """The items of every page of a service's list (following `next_cursor`, at most `max_pages`);
    a list the service does not offer (404) gives none."""
    out, cursor = [], None
    for _ in range(max_pages):
        page = await _get(client, path, params + ([("cursor", cursor)] if cursor else []))
        if not page:
            break
        out += page.get("items", [])
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return out


async def gather(request: Request, scope: Scope) -> Sources:
    """Ask the services for the scope's aggregates and read them into `Sources`."""
    cl = clients(request)
    codes = await municipality_codes(cl, scope)
    sources = Sources()
    if codes == []:
        sources.warnings.append(f"no hay municipios registrados en el departamento {scope.department}")
        return sources
    sources.references_on = reference_day(scope)
    catalog_params = ([("municipality", scope.municipality)] if scope.municipality else
                      [("department", scope.department)] if scope.department else []) + \
        [("on", sources.references_on.isoformat())]
    sales_params = [("municipality", c) for c in codes or []] + _period(scope)
    delivery_params = ([("municipality", scope.municipality)] if scope.municipality else []) + _period(scope)
    point_params = [("limit", "100")] + ([("municipality", scope.municipality)] if scope.municipality else [])
    wanted = set(codes) if codes is not None else None

    # one service, one call at a time: a service answers in order, the services run side by side
    async def delivery_part():
        points = await _all_points(cl["delivery"], point_params)
        points = [p for p in points if wanted is None or p["municipality_code"] in wanted]
        return points, await _get(cl["delivery"], "/stats/deliveries", delivery_params)

    async def orders_part(delivery_task):
        sales = await _get(cl["orders"], "/stats/sales", sales_params)
        if codes is None or sales is None:
            return sales, sales  # the whole country: what its producers sold is what its points delivered
        points, _ = await delivery_task
        if not points:
            return sales, {"products": []}
        return sales, await _get(cl["orders"], "/stats/sales", [("point", str(p["id"])) for p in points]
                                 + _period(scope))

    async def payments_part():
        if not codes:
            return [await _get(cl["payments"], "/stats/advances", _period(scope))]
        return [await _get(cl["payments"], "/stats/advances", [("municipality", c), *_period(scope)])
                for c in codes]

    try:  # the first failure cancels the other calls and is the answer (503 names the service)
        async with asyncio.TaskGroup() as group:
            delivery = group.create_task(delivery_part())
            catalog = group.create_task(_get(cl["catalog"], "/stats/supply", catalog_params))
            orders = group.create_task(orders_part(delivery))
            payments = group.create_task(payments_part())
    except* DomainError as failed:
        raise failed.exceptions[0] from None
    supply, (sales, market), (points, deliveries), advances = \
        catalog.result(), orders.result(), delivery.result(), payments.result()
    for name, answer in (("catalog", supply), ("orders", sales), ("delivery", deliveries)):
        if answer is None:
            sources.warnings.append(MISSING[name])
    if supply is not None:
        read_supply(supply, sources)
    if sales is not None:
        read_sales(sales, sources, codes)
        read_market(market or {}, sources, points)
    if deliveries is not None:
        read_deliveries(deliveries, points, sources, codes)
    present = [a for a in advances if a is not None]
    if not present:
        sources.warnings.append(MISSING["payments"])
    else:
        read_advances(present, sources)
    return sources


async def _all_points(client: ServiceClient, params: list) -> list[dict]:
    """Every delivery point's id and place (name, coordinates); the contact is never kept."""
    return [{"id": p["id"], "name": p.get("name", ""), "lat": p.get("lat"), "lon": p.get("lon"),
             "municipality_code": p.get("municipality_code")} for p in await every_item(client, "/points", params)]


def cents(value) -> int:
    """A service amount (decimal string in bolivianos) in centavos."""
    if value in (None, ""):
        return 0
    return to_centavos(Decimal(str(value)).quantize(Decimal("0.01")))


def dec(value) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


def read_supply(raw: dict, sources: Sources) -> None:
    producers = raw.get("producers") or {}
    sources.registered_by_gender = {k: int(v) for k, v in (producers.get("by_gender") or {}).items()}
    orgs = raw.get("organizations") or {}
    sources.organizations_by_form = {k: int(v) for k, v in (orgs.get("by_legal_form") or {}).items()}
    sources.organizations_by_maturity = {k: int(v) for k, v in (orgs.get("by_maturity") or {}).items()}
    sources.organization_members = int(orgs.get("members") or 0)
    sources.organization_women = int(orgs.get("women_members") or 0)
    for row in (raw.get("offer") or {}).get("by_product") or []:
        avg = row.get("avg_price")
        sources.offers.append(Offer(category=row["category"], product=row["product"], unit=row["unit"],
                                    quantity=dec(row.get("available")), value=cents(row.get("value")),
                                    average_price=cents(avg) if avg else None,
                                    producers=int(row.get("producers") or 0)))
    for row in raw.get("prices") or []:
        avg = row.get("current_avg")
        sources.references.append(Reference(
            municipality_code=row["municipality_code"], category=row.get("category"), product=row.get("product"),
            unit=row["unit"], price=cents(row["reference_price"]), offered_average=cents(avg) if avg else None,
            band_min=cents(row["band_min"]) if row.get("band_min") else None,
            band_max=cents(row["band_max"]) if row.get("band_max") else None))


def _kind(row: dict) -> tuple:
    return row.get("category") or "", fold(row.get("product")), row.get("unit")


def _sellers(raw: dict) -> dict[tuple, int]:
    """How many producers sold each product kind in the whole answer (not per row: a row is one
    municipality's or one point's share of it)."""
    return {_kind(row): int(row.get("producers") or 0) for row in raw.get("product_producers") or []}


def read_sales(raw: dict, sources: Sources, codes: list[str] | None) -> None:
    wanted = set(codes) if codes is not None else None
    sellers = _sellers(raw)
    for row in raw.get("products") or []:
        if wanted is not None and row.get("municipality_code") not in wanted:
            continue
        sources.sales.append(Sale(municipality_code=row.get("municipality_code") or "",
                                  category=row.get("category") or "", product=row["product"], unit=row["unit"],
                                  quantity=dec(row.get("quantity")), value=cents(row.get("value")),
                                  producers=sellers.get(_kind(row), 0)))
    sources.active_by_gender = sum_by_gender(
        [row.get("by_gender") or {} for row in raw.get("producers") or []
         if wanted is None or row.get("municipality_code") in wanted])
    sources.orders = int(raw.get("orders") or 0)
    sources.waitlisted_orders = int(raw.get("waitlisted_orders") or 0)


def read_market(raw: dict, sources: Sources, points: list[dict]) -> None:
    """Sales delivered at the scope's points, placed in the point's municipality (for its references)."""
    where = {p["id"]: p["municipality_code"] for p in points}
    sellers = _sellers(raw)
    for row in raw.get("products") or []:
        point = row.get("delivery_point_id")
        if point not in where:
            continue
        sources.market.append(Sale(municipality_code=where[point] or "", category=row.get("category") or "",
                                   product=row["product"], unit=row["unit"], quantity=dec(row.get("quantity")),
                                   value=cents(row.get("value")), point_id=point,
                                   producers=sellers.get(_kind(row), 0)))


def read_deliveries(raw: dict, points: list[dict], sources: Sources, codes: list[str] | None) -> None:
    wanted = set(codes) if codes is not None else None
    where = {p["id"]: p for p in points}
    for row in raw.get("points") or []:
        if wanted is not None and row.get("municipality_code") not in wanted:
            continue
        place = where.get(row["point_id"], {})
        sources.points.append(PointLine(
            point_id=int(row["point_id"]), name=row.get("point_name") or place.get("name", ""),
            municipality_code=row.get("municipality_code", ""), lat=place.get("lat"), lon=place.get("lon"),
            orders=int(row.get("orders", 0)), picked_up=int(row.get("picked_up", 0)),
            no_shows=int(row.get("no_shows", 0)), waitlisted=int(row.get("waitlisted", 0))))


def read_advances(answers: list[dict], sources: Sources) -> None:
    """Sum the per-municipality answers. Women's value comes back as a share of the value (4 decimals),
    so it is rebuilt per answer, to the centavo, before summing."""
    total = {"count": 0, "value": 0, "fees": 0, "women_value": 0, "producers": 0, "women_producers": 0}
    for a in answers:
        value, producers = cents(a.get("value")), int(a.get("producers", 0))
        shares = a.get("women_share") or {}
        total["count"] += int(a.get("advances", a.get("count", 0)))
        total["value"] += value
        total["fees"] += cents(a.get("fees"))
        total["producers"] += producers
        if "women_value" in a:
            total["women_value"] += cents(a["women_value"])
        else:
            total["women_value"] += int((dec(shares.get("value")) * value).quantize(Decimal(1)))
        if "women_producers" in a:
            total["women_producers"] += int(a["women_producers"])
        else:
            total["women_producers"] += int((dec(shares.get("producers")) * producers).quantize(Decimal(1)))
    sources.advances = total
