"""The municipality's pages: the dashboard (supply, prices paid against reference and its fair band,
fair-price alerts, the points of its territory, as inline SVG charts and a map, with its open-data
download) and its reference prices with their fair band (`/municipio/precios`, a history, as CSV)."""

import uuid
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from gateway.monitoring.figures import CATEGORY_LABELS, fold
from gateway.web import views
from gateway.web.csrf import refuse_cross_site_posts
from gateway.web.session import UpstreamError, Web, WebSession, every_page, optional
from gateway.web.shop import municipalities_of, redirect
from gateway.web.svg import Bar, MapPoint, Series, bar_chart, line_chart, points_map
from gateway.web.templating import render
from services.common import clock
from services.common.csv_files import csv_text
from services.common.units import Unit

router = APIRouter(include_in_schema=False, dependencies=[Depends(refuse_cross_site_posts)])

def _period(desde: str, hasta: str) -> dict:
    out = {}
    for key, value in (("from", desde), ("to", hasta)):
        try:
            out[key] = date.fromisoformat(value).isoformat() if value else None
        except ValueError:
            out[key] = None
    return out


def _bars(rows: list[dict], key: str) -> list[Bar]:
    bars = []
    for row in rows:
        value = Decimal(row[key])
        if value > 0:
            bars.append(Bar(row.get("label") or CATEGORY_LABELS.get(row["category"], row["category"]),
                            float(value), views.bs(value)))
    return sorted(bars, key=lambda b: -b.value)


def dashboard_charts(report: dict) -> dict:
    """The dashboard's figures: bars of supply by category (what reached the territory's points, and
    what its producers offer), a line of prices against reference, and a map of the points."""
    categories = report["supply"]["by_category"]
    prices = report["prices"]["items"][:12]
    labels = [f"{p['product']} ({p['unit']})" for p in prices]
    paid = [float(Decimal(p["average_paid"])) for p in prices]
    ref = [float(Decimal(p["reference"])) for p in prices]
    offered = [float(Decimal(p["average_offered"])) if p.get("average_offered") else None for p in prices]
    series = [Series("Referencia", ref, dashed=True), Series("Pagado", paid)]
    if any(v is not None for v in offered):
        series.append(Series("Ofertado", offered))
    points = [MapPoint(f"{p['name']}: {p['orders']} pedidos", p["lat"], p["lon"], number=i + 1)
              for i, p in enumerate(report["delivery_points"]) if p.get("lat") is not None]
    return {
        "delivered": bar_chart(_bars(categories, "delivered_value"),
                               title="Abastecimiento: lo entregado en los puntos del territorio (Bs)"),
        "offered": bar_chart(_bars(categories, "offered_value"), title="Oferta de los productores del territorio (Bs)",
                             empty="Ningún productor del territorio ofrece productos hoy."),
        "prices": line_chart(labels, series, title="Precio pagado frente a la referencia", unit=""),
        "map": points_map(points, title="Puntos de entrega") if points else "",
    }


def with_bands(items: list[dict], references: list[dict]) -> list[dict]:
    """The price rows of the report with the fair band of their reference beside them: the one for
    the product name (accents and case aside), else for its category, in the same unit, as the index
    matches them (`gateway.monitoring.figures.reference_for`)."""
    by_name, by_category = {}, {}
    for ref in references:
        if ref.get("product"):
            by_name[fold(ref["product"]), ref["unit"]] = ref
        else:
            by_category[ref.get("category"), ref["unit"]] = ref
    out = []
    for item in items:
        ref = by_name.get((fold(item.get("product") or ""), item["unit"])) \
            or by_category.get((item.get("category"), item["unit"])) or {}
        out.append({**item, "band_min": ref.get("band_min"), "band_max": ref.get("band_max")})
    return out


ALERT_KINDS = {"below_min": "Vendido bajo el mínimo", "above_max": "Ofertado sobre el máximo"}


async def alerts_of(web: WebSession, params: dict, notes: list[str]) -> list[dict]:
    found = await optional(web, "GET", "/api/price-alerts", notes, "Alertas de precio justo",
                           params={"municipality": params.get("municipality"),
                                   "department": params.get("department"), "limit": 20})
    return [{**a, "label": ALERT_KINDS.get(a["kind"], a["kind"])} for a in found or []]


@router.get("/municipio")
async def municipality_dashboard(request: Request, web: Web, municipio: str = "", departamento: str = "",
                                 desde: str = "", hasta: str = ""):
    principal = web.require("municipality", "coordinator")
    period = _period(desde, hasta)
    # a municipality chosen wins over a department (the API takes one territory)
    params = {"municipality": municipio or None, "department": None if municipio else departamento or None,
              **period}
    if principal.role.value == "municipality":
        params["municipality"], params["department"] = principal.municipality_code, None
    report = await web.call("GET", "/api/monitoring/report", params=params)
    notes: list[str] = []
    alerts = await alerts_of(web, params, notes)
    municipalities = await municipalities_of(web)
    place = next((m["name"] for m in municipalities if m.get("code") == params["municipality"]), "")
    if principal.role.value == "municipality":
        municipalities = []
    query = "&".join(f"{k}={quote(str(v))}" for k, v in params.items() if v)
    return render(request, web, "municipality.html", title="Monitoreo municipal", report=report, place=place,
                  charts=dashboard_charts(report), municipalities=municipalities, params=params,
                  prices=with_bands(report["prices"]["items"][:12], report["prices"].get("offered_vs_reference") or []),
                  alerts=alerts, notes=notes,
                  csv_url="/municipio/informe.csv" + ("?" + query if query else ""),
                  program_csv_url="/municipio/programa.csv" + ("?" + query if query else ""),
                  desde=period["from"] or "", hasta=period["to"] or "")


def _territory(web: WebSession, municipio: str) -> str:
    """The municipality whose prices the page shows: a municipality account's own; an admin's choice."""
    principal = web.require("municipality", "admin")
    if principal.role.value == "municipality":
        if not principal.municipality_code:
            raise UpstreamError("Su cuenta no está vinculada a un municipio; pida a la administración que la "
                                "vincule.", status=403)
        return principal.municipality_code
    return municipio if municipio.isdigit() and len(municipio) == 6 else ""


def price_rows(history: list[dict]) -> list[dict]:
    """The versions newest first, each with what it is a price of, and whether it is valid today."""
    today = clock.today().isoformat()
    rows = []
    for r in sorted(history, key=lambda r: (r["valid_from"], r["id"]), reverse=True):
        rows.append({**r, "what": r.get("product_name") or views.category_label(r.get("category")),
                     "current": r["valid_from"] <= today and (not r.get("valid_to") or r["valid_to"] > today)})
    return rows


async def history_of(web: WebSession, code: str) -> list[dict]:
    return await every_page(web, "/api/catalog/reference-prices", {"municipality": code, "history": "true"},
                            pages=20)


@router.get("/municipio/precios")
async def reference_prices_page(request: Request, web: Web, municipio: str = ""):
    code = _territory(web, municipio)
    rows = price_rows(await history_of(web, code)) if code else []
    municipalities = await municipalities_of(web) if web.principal.role.value == "admin" else []
    return render(request, web, "municipality_prices.html", title="Precios de referencia", code=code,
                  current=[r for r in rows if r["current"]], history=rows, categories=CATEGORY_LABELS,
                  units=[u.value for u in Unit], municipalities=municipalities, today=clock.today().isoformat(),
                  idempotency_key=uuid.uuid4().hex)


def _amount(text: str, label: str, *, required: bool) -> str | None:
    text = text.replace(",", ".").strip()
    if not text:
        if required:
            raise ValueError(f"Escriba {label}.")
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"Escriba {label} con números, p. ej. 12,50.") from None
    if value < 0 or value >= 10**9:
        raise ValueError(f"{label.capitalize()} no es un monto posible.")
    return f"{value:.2f}"


def reference_price_body(*, code: str, product: str, category: str, unit: str, price: str, band_min: str,
                         band_max: str, valid_from: str) -> dict:
    """The catalog's body for a new reference price from the page's form; ValueError says what is wrong."""
    product = " ".join(product.split())
    if not product and category not in CATEGORY_LABELS:
        raise ValueError("Escriba el producto o elija una categoría.")
    if unit not in {u.value for u in Unit}:
        raise ValueError("Elija la unidad.")
    body = {"municipality_code": code, "unit": unit, "price": _amount(price, "el precio de referencia", required=True),
            "band_min": _amount(band_min, "el mínimo para quien produce", required=False),
            "band_max": _amount(band_max, "el máximo para quien compra", required=False)}
    body.update({"product_name": product} if product else {"category": category})
    if valid_from:
        try:
            body["valid_from"] = date.fromisoformat(valid_from).isoformat()
        except ValueError:
            raise ValueError("La fecha «vigente desde» no es válida.") from None
    return {k: v for k, v in body.items() if v is not None}


@router.post("/municipio/precios")
async def reference_price_add(web: Web, municipio: Annotated[str, Form(max_length=10)] = "",
                              producto: Annotated[str, Form(max_length=200)] = "",
                              categoria: Annotated[str, Form(max_length=32)] = "",
                              unidad: Annotated[str, Form(max_length=16)] = "",
                              precio: Annotated[str, Form(max_length=20)] = "",
                              minimo: Annotated[str, Form(max_length=20)] = "",
                              maximo: Annotated[str, Form(max_length=20)] = "",
                              desde: Annotated[str, Form(max_length=10)] = "",
                              idempotency_key: Annotated[str, Form(max_length=64)] = ""):
    code = _territory(web, municipio)
    back = "/municipio/precios" + (f"?municipio={code}&" if web.principal.role.value == "admin" else "?")
    try:
        body = reference_price_body(code=code, product=producto, category=categoria, unit=unidad, price=precio,
                                    band_min=minimo, band_max=maximo, valid_from=desde)
        await web.call("POST", "/api/catalog/reference-prices", json=body,
                       idempotency_key=idempotency_key or None)
    except ValueError as exc:
        return redirect(back + "error=" + quote(str(exc)), web)
    except UpstreamError as exc:
        return redirect(back + "error=" + quote(exc.message), web)
    what = body.get("product_name") or CATEGORY_LABELS[body["category"]]
    return redirect(back + "aviso=" + quote(f"Precio de referencia de {what} guardado."), web)


@router.get("/municipio/precios.csv")
async def reference_prices_csv(web: Web, municipio: str = ""):
    code = _territory(web, municipio)
    rows = price_rows(await history_of(web, code)) if code else []
    text = csv_text([(r["municipality_code"], r.get("product_name") or "", r.get("category") or "", r["unit"],
                      r["price"], r.get("band_min") or "", r.get("band_max") or "", r["valid_from"],
                      r.get("valid_to") or "") for r in rows],
                    header=("municipio", "producto", "categoria", "unidad", "precio_referencia", "minimo_productor",
                            "maximo_consumidor", "vigente_desde", "vigente_hasta"))
    return web.apply(Response("\ufeff" + text, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="precios_referencia_{code or "municipio"}.csv"'}))


@router.get("/municipio/{name}.csv")
async def municipality_csv(request: Request, web: Web, name: str):
    web.require("municipality", "coordinator")
    path = {"informe": "/api/monitoring/report.csv", "programa": "/api/monitoring/program-report.csv"}.get(name)
    if path is None:
        raise UpstreamError("No existe ese archivo.", status=404)
    response = await web.call("GET", path, params=dict(request.query_params), raw=True)
    if response.status_code != 200:
        raise UpstreamError("No se pudo preparar el archivo.", status=response.status_code)
    return Response(response.content, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": response.headers.get("content-disposition", "attachment")})
