"""Fetching the services' aggregate endpoints for monitoring, and reading them into `Sources`.

The gateway composes; it never reads a service's database. Each service answers aggregates only
(counts, sums, no names or phones): catalog `GET /stats/supply`, delivery `GET /stats/deliveries`,
payments `GET /stats/advances`. The three calls run concurrently. A service that is down makes the
report fail with 503 (a partial report would be misread as a real drop); a service that does not
offer an aggregate yet (404) leaves its section empty with a warning in the report.
"""

import asyncio
from decimal import Decimal

from fastapi import Request

from gateway.monitoring.access import Scope
from gateway.monitoring.figures import PointLine, Sources, SupplyLine
from services.common.errors import DomainError
from services.common.http import ServiceClient
from services.common.money import to_centavos

STATS_PATHS = {"catalog": "/stats/supply", "delivery": "/stats/deliveries", "payments": "/stats/advances"}


def clients(request: Request) -> dict[str, ServiceClient]:
    """The monitoring clients of this gateway process (one pooled client per service)."""
    state = request.app.state
    existing = getattr(state, "monitoring_clients", None)
    if existing is None:
        settings = state.settings
        secret = getattr(state, "service_secret", None) or settings.resolved_service_secret()
        existing = {name: ServiceClient(name, settings.service_url(name), secret=secret, caller="gateway",
                                        timeout=settings.http_timeout_seconds)
                    for name in STATS_PATHS}
        state.monitoring_clients = existing
    return existing


async def close_clients(app) -> None:
    for client in (getattr(app.state, "monitoring_clients", None) or {}).values():
        await client.aclose()
    app.state.monitoring_clients = None


def _params(scope: Scope, service: str) -> dict:
    params: dict = {}
    if scope.municipality:
        params["municipality"] = scope.municipality
    if scope.department:
        params["department"] = scope.department
    if scope.date_from:
        params["from"] = scope.date_from.isoformat()
    if scope.date_to:
        params["to"] = scope.date_to.isoformat()
    return params


async def _fetch(client: ServiceClient, path: str, params: dict, headers: dict) -> dict | None:
    try:
        return await client.call("GET", path, params=params, headers=headers)
    except DomainError as exc:
        if exc.status == 404 and exc.code in ("not_found", "upstream_error"):
            return None  # the service does not offer this aggregate
        raise


async def gather(request: Request, scope: Scope) -> Sources:
    """Ask the three services for the scope's aggregates and read them into `Sources`."""
    auth = request.headers.get("authorization")
    headers = {"Authorization": auth} if auth else {}
    cl = clients(request)
    supply, deliveries, advances = await asyncio.gather(
        *(_fetch(cl[name], path, _params(scope, name), headers) for name, path in STATS_PATHS.items()))
    sources = Sources()
    if supply is None:
        sources.warnings.append("el catálogo no ofrece todavía sus agregados (/stats/supply)")
    else:
        read_supply(supply, sources)
    if deliveries is None:
        sources.warnings.append("entregas no ofrece todavía sus agregados (/stats/deliveries)")
    else:
        read_deliveries(deliveries, sources, scope)
    if advances is None:
        sources.warnings.append("pagos no ofrece todavía sus agregados (/stats/advances)")
    else:
        read_advances(advances, sources)
    return sources


def cents(value) -> int:
    """A money value from a service: decimal string in bolivianos, or {"amount": ...}, or centavos."""
    if value is None:
        return 0
    if isinstance(value, dict):
        if "centavos" in value:
            return int(value["centavos"])
        value = value.get("amount", 0)
    if isinstance(value, int) and not isinstance(value, bool):
        return value * 100
    return to_centavos(Decimal(str(value)).quantize(Decimal("0.01")))


def dec(value) -> Decimal:
    if value is None:
        return Decimal(0)
    if isinstance(value, dict):
        value = value.get("quantity", value.get("value", 0))
    return Decimal(str(value))


def read_supply(raw: dict, sources: Sources) -> None:
    producers = raw.get("producers") or {}
    by_gender = producers.get("by_gender") if isinstance(producers, dict) else None
    if by_gender is None and isinstance(producers, dict):
        by_gender = {k: v for k, v in producers.items() if isinstance(v, int) and k not in ("total", "active")}
    if isinstance(by_gender, list):
        by_gender = {row["gender"]: row.get("count", row.get("producers", 0)) for row in by_gender}
    sources.producers_by_gender = {k: int(v) for k, v in (by_gender or {}).items()}
    for row in raw.get("organizations", {}).get("groups", []) if isinstance(raw.get("organizations"), dict) \
            else raw.get("organizations") or []:
        sources.organizations.append({"legal_form": row["legal_form"], "maturity": row["maturity"],
                                      "count": int(row.get("count", 1)),
                                      "members": int(row.get("members", row.get("member_count", 0)) or 0),
                                      "women": int(row.get("women", row.get("women_count", 0)) or 0)})
    for row in raw.get("products") or raw.get("by_product") or []:
        reference = row.get("reference_price")
        sources.supply.append(SupplyLine(
            category=row["category"], product=row.get("product") or row.get("product_name") or row.get("name"),
            unit=row["unit"], offered_quantity=dec(row.get("offered_quantity")),
            offered_value=cents(row.get("offered_value")), sold_quantity=dec(row.get("sold_quantity")),
            sold_value=cents(row.get("sold_value")),
            reference_price=cents(reference) if reference not in (None, "") else None))
    sources.municipalities_reached.extend(raw.get("municipalities_reached") or raw.get("municipalities") or [])


def read_deliveries(raw: dict, sources: Sources, scope: Scope) -> None:
    for row in raw.get("points") or raw.get("items") or []:
        sources.points.append(PointLine(
            point_id=int(row.get("point_id", row.get("id"))), name=row.get("name", ""),
            municipality_code=row.get("municipality_code", ""), lat=row.get("lat"), lon=row.get("lon"),
            orders=int(row.get("orders", 0)), picked_up=int(row.get("picked_up", row.get("pickups", 0))),
            no_shows=int(row.get("no_shows", 0))))


def read_advances(raw: dict, sources: Sources) -> None:
    sources.advances = {
        "count": int(raw.get("count", 0)), "value": cents(raw.get("value", raw.get("principal"))),
        "fees": cents(raw.get("fees", raw.get("fee"))), "women_count": int(raw.get("women_count", 0)),
        "women_value": cents(raw.get("women_value")),
    }
