"""The municipality's dashboard: supply, prices against reference and the points of its territory,
as inline SVG charts and a map, with its open-data download."""

from datetime import date
from decimal import Decimal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from gateway.monitoring.figures import CATEGORY_LABELS
from gateway.web import views
from gateway.web.csrf import refuse_cross_site_posts
from gateway.web.session import UpstreamError, Web
from gateway.web.shop import municipalities_of
from gateway.web.svg import Bar, MapPoint, Series, bar_chart, line_chart, points_map
from gateway.web.templating import render

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
    municipalities = await municipalities_of(web)
    place = next((m["name"] for m in municipalities if m.get("code") == params["municipality"]), "")
    if principal.role.value == "municipality":
        municipalities = []
    query = "&".join(f"{k}={quote(str(v))}" for k, v in params.items() if v)
    return render(request, web, "municipality.html", title="Monitoreo municipal", report=report, place=place,
                  charts=dashboard_charts(report), municipalities=municipalities, params=params,
                  csv_url="/municipio/informe.csv" + ("?" + query if query else ""),
                  program_csv_url="/municipio/programa.csv" + ("?" + query if query else ""),
                  desde=period["from"] or "", hasta=period["to"] or "")


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
