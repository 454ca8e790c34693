"""Pages of the people who run the circuit: producer (products, stock and prices, pick list,
statement, early payment), coordinator (cycles, close, printable lists), municipality (dashboard with
inline SVG charts and a map of the points) and financier (portfolio and approvals).

Each page reads through the gateway's own API as the logged-in user, so every rule about who may
see or change what stays in the services; a part a service cannot answer is left out with a note.
"""

import asyncio
import uuid
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from gateway.monitoring.figures import CATEGORY_LABELS
from gateway.web import views
from gateway.web.csrf import refuse_cross_site_posts
from gateway.web.session import UpstreamError, WebSession, web_session
from gateway.web.shop import municipalities_of, redirect
from gateway.web.svg import Bar, MapPoint, Series, bar_chart, line_chart, points_map
from gateway.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(refuse_cross_site_posts)])
Web = Annotated[WebSession, Depends(web_session)]


async def optional(web: WebSession, method: str, path: str, notes: list[str], what: str, **kw):
    """A call whose failure leaves one part of the page out (with a note), not the whole page."""
    try:
        return await web.call(method, path, **kw)
    except UpstreamError as exc:
        notes.append(f"{what}: {exc.message}")
        return None


# --- producer ---

@router.get("/productor")
async def producer_home(request: Request, web: Web):
    if web.principal is not None and web.principal.is_unverified_organization:
        return render(request, web, "producer.html", title="Organización por verificar", products=[],
                      statement=None, receivables=[], eligibility=None, advances=[], picks=[],
                      notes=["Tu cuenta de organización aún no está verificada: una coordinadora o un "
                             "administrador debe vincularla a tu organización registrada. Mientras tanto "
                             "solo puedes cambiar tu perfil."],
                      idempotency_key="", producer_id=None)
    principal = web.require("producer", "organization")
    notes: list[str] = []
    producer_id = principal.producer_id
    params = {"producer": producer_id, "limit": 100} if producer_id else \
        {"organization": principal.organization_id, "limit": 100}
    products_call = optional(web, "GET", "/api/catalog/products", notes, "Productos", params=params)
    if not producer_id:  # an organization account: its members' products
        products = [views.product_view(p) for p in views.items_of(await products_call)]
        return render(request, web, "producer.html", title="Productos de la organización", products=products,
                      statement=None, receivables=[], eligibility=None, advances=[], picks=[], notes=notes,
                      idempotency_key="", producer_id=None)
    base = f"/api/payments/producers/{producer_id}"
    page, receivables, eligibility, advances, picks = await asyncio.gather(
        products_call,
        optional(web, "GET", f"{base}/receivables", notes, "Estado de cuenta"),
        optional(web, "GET", f"{base}/eligibility", notes, "Pronto pago"),
        optional(web, "GET", f"{base}/advances", notes, "Adelantos"),
        pick_list(web, producer_id, notes))
    receivables, advances = receivables or [], advances or []
    statement = None
    if receivables:
        statement = await optional(web, "GET", f"{base}/statement", notes, "Liquidación",
                                   params={"cycle_id": receivables[0]["cycle_id"]})
    return render(request, web, "producer.html", title="Mis productos",
                  products=[views.product_view(p) for p in views.items_of(page)], statement=statement,
                  receivables=receivables[:10], eligibility=eligibility, advances=advances[:10], picks=picks,
                  notes=notes, idempotency_key=uuid.uuid4().hex, producer_id=producer_id)


async def pick_list(web: WebSession, producer_id: int, notes: list[str]) -> list[dict]:
    """What the producer brings to each point: her pending consignments of closed cycles (delivery)."""
    response = await web.call("GET", "/api/delivery/consignments", raw=True,
                              params={"producer_id": producer_id, "limit": 50})
    if response.status_code in (401, 403):
        notes.append("Lista de recojo: su cuenta aún no está vinculada a un productor; "
                     "pida a la coordinación que la vincule.")
        return []
    if response.status_code != 200:
        notes.append("Lista de recojo: no disponible en este momento.")
        return []
    pending = [c for c in views.items_of(response.json()) if c.get("status") == "pending"]
    if pending:
        points = views.items_of(await web.call("GET", "/api/delivery/points", params={"limit": 100}))
        names = {p["id"]: p["name"] for p in points}
        for c in pending:
            c["point_name"] = names.get(c["delivery_point_id"], f"punto {c['delivery_point_id']}")
    return pending


@router.post("/productor/productos/{product_id}")
async def producer_update(web: Web, product_id: int, price: Annotated[str, Form(max_length=20)],
                          available: Annotated[str, Form(max_length=20)] = ""):
    web.require("producer", "organization")
    changes: dict = {}
    try:
        changes["price"] = f"{Decimal(price.replace(',', '.').strip()):.2f}"
        if available.strip():
            changes["available"] = f"{Decimal(available.replace(',', '.').strip()).normalize():f}"
    except InvalidOperation:
        return redirect("/productor?error=" + quote("Escriba el precio y el stock con números, p. ej. 12,50."), web)
    try:
        await web.call("PATCH", f"/api/catalog/products/{product_id}", json=changes)
    except UpstreamError as exc:
        return redirect("/productor?error=" + quote(exc.message), web)
    return redirect(f"/productor/productos/{product_id}?aviso=" + quote("Precio y stock guardados."), web)


@router.get("/productor/productos/{product_id}")
async def producer_product(request: Request, web: Web, product_id: int):
    web.require("producer", "organization")
    product = views.product_view(await web.call("GET", f"/api/catalog/products/{product_id}"))
    history = views.items_of(await web.call("GET", f"/api/catalog/products/{product_id}/prices",
                                            params={"limit": 50}))
    values = [float(Decimal(h["price"])) for h in reversed(history)]
    labels = [str(h["changed_at"])[:10] for h in reversed(history)]
    chart = line_chart(labels, [Series("Precio", values)], title="Historial de precios", unit=" (Bs)") \
        if len(values) > 1 else ""
    return render(request, web, "product_history.html", title=product["name"], product=product, history=history,
                  chart=chart)


@router.post("/productor/adelanto")
async def producer_advance(web: Web, amount: Annotated[str, Form(max_length=20)],
                           idempotency_key: Annotated[str, Form(max_length=64)]):
    principal = web.require("producer")
    try:
        value = f"{Decimal(amount.replace(',', '.').strip()):.2f}"
    except InvalidOperation:
        return redirect("/productor?error=" + quote("Escriba el monto con números, p. ej. 150,00."), web)
    try:
        await web.call("POST", "/api/payments/advances", json={"producer_id": principal.producer_id, "amount": value},
                       idempotency_key=idempotency_key)
    except UpstreamError as exc:
        return redirect("/productor?error=" + quote(exc.message), web)
    return redirect("/productor?aviso=" + quote("Solicitud de pronto pago enviada."), web)


# --- coordinator ---

@router.get("/coordinacion")
async def coordinator_home(request: Request, web: Web):
    web.require("coordinator")
    cycles = views.items_of(await web.call("GET", "/api/orders/cycles", params={"limit": 30}))
    return render(request, web, "coordinator.html", title="Ciclos de pedido", cycles=cycles)


@router.post("/coordinacion/ciclos/{cycle_id}/cerrar")
async def coordinator_close(web: Web, cycle_id: int):
    web.require("coordinator")
    try:
        result = await web.call("POST", f"/api/orders/cycles/{cycle_id}/close")
    except UpstreamError as exc:
        return redirect("/coordinacion?error=" + quote(exc.message), web)
    message = "Ciclo cerrado y consolidado."
    if result.get("consolidation_error"):
        message = "Ciclo cerrado; la consolidación se reintentará: " + result["consolidation_error"]["message"]
    return redirect(f"/coordinacion/ciclos/{cycle_id}/listas?aviso=" + quote(message), web)


@router.get("/coordinacion/ciclos/{cycle_id}/listas")
async def coordinator_lists(request: Request, web: Web, cycle_id: int):
    web.require("coordinator")
    doc = await web.call("GET", f"/api/orders/cycles/{cycle_id}/consolidation")
    points = {p["id"]: p["name"] for p in views.items_of(
        await optional(web, "GET", "/api/delivery/points", [], "Puntos", params={"limit": 100}))}
    return render(request, web, "cycle_lists.html", title=f"Listas del ciclo {cycle_id}", doc=doc,
                  cycle_id=cycle_id, points=points)


@router.get("/coordinacion/ciclos/{cycle_id}/listas.{fmt}")
async def coordinator_lists_file(web: Web, cycle_id: int, fmt: str):
    web.require("coordinator")
    if fmt not in ("csv", "pdf"):
        raise UpstreamError("Formato desconocido: use csv o pdf.", status=404)
    response = await web.call("GET", f"/api/orders/cycles/{cycle_id}/consolidation", params={"format": fmt},
                              raw=True)
    if response.status_code != 200:
        raise UpstreamError("No se pudo preparar el archivo.", status=response.status_code)
    return Response(response.content, media_type=response.headers.get("content-type"),
                    headers={"Content-Disposition": response.headers.get("content-disposition", "attachment")})


# --- municipality ---

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


# --- financier ---

@router.get("/financiador")
async def financier_home(request: Request, web: Web):
    principal = web.require("financier")
    notes: list[str] = []
    portfolio = None
    if principal.financier_id:
        portfolio = await optional(web, "GET", f"/api/payments/financiers/{principal.financier_id}/portfolio",
                                   notes, "Cartera")
    advances = await optional(web, "GET", "/api/payments/advances", notes, "Solicitudes") or []
    pending = [a for a in advances if a.get("status") in ("requested", "approved")]
    return render(request, web, "financier.html", title="Cartera de pronto pago", portfolio=portfolio,
                  pending=pending, recent=[a for a in advances if a not in pending][:20], notes=notes)


@router.post("/financiador/adelantos/{advance_id}/{action}")
async def financier_decide(web: Web, advance_id: int, action: str):
    web.require("financier")
    if action not in ("approve", "reject", "disburse"):
        raise UpstreamError("Acción desconocida.", status=404)
    try:
        await web.call("POST", f"/api/payments/advances/{advance_id}/{action}", json={},
                       idempotency_key=f"web-{action}-{advance_id}")
    except UpstreamError as exc:
        return redirect("/financiador?error=" + quote(exc.message), web)
    done = {"approve": "aprobado", "reject": "rechazado", "disburse": "desembolsado"}[action]
    return redirect("/financiador?aviso=" + quote(f"Adelanto {advance_id} {done}."), web)
