"""The coordinator's pages: her cycles; opening one in one form (points and their capacity, products,
fees, agrobolsas); watching it fill and running it (close, staff at the points, consumer payments and
refunds, no-shows, the delivery routes on a map); its printable consolidation lists.

Every call goes to the services as the coordinator, and they decide what is hers: the cycle page
reads the cycle's point staff first (`GET /api/delivery/cycles/{id}/staff`, the cycle's coordinator
and admins only), so another coordinator's cycle is refused before anything of it is shown.
"""

import asyncio
import uuid
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy import select

from gateway.accounts import find_account, login_kind
from gateway.models import Account
from gateway.web import views
from gateway.web.csrf import refuse_cross_site_posts
from gateway.web.cycle_form import (
    BASKET_LINES,
    BASKETS,
    FEE_BASES,
    FEE_KINDS,
    FEE_PAYERS,
    FEE_ROWS,
    blank_form,
    number,
    read_cycle_form,
)
from gateway.web.cycle_watch import ACTIVE, PAYABLE, basket_rows, order_summary, point_rows, running_low
from gateway.web.session import UpstreamError, Web, WebSession, every_page, optional
from gateway.web.shop import redirect
from gateway.web.svg import MapPoint, RouteLeg, route_map
from gateway.web.templating import render
from services.common.schedules import WEEKDAYS, days_text, open_weekdays

router = APIRouter(include_in_schema=False, dependencies=[Depends(refuse_cross_site_posts)])
PAYMENT_METHODS = {"cash": "Efectivo", "qr": "QR", "transfer": "Transferencia"}
CLOSED = ("closed", "consolidated", "delivered", "settled")
ORDERS_SHOWN = 60  # the cycle page lists the newest; a big cycle's whole list is one click away


def _cycle_url(cycle_id: int, *, notice: str = "", error: str = "") -> str:
    if error:
        return f"/coordinacion/ciclos/{cycle_id}?error=" + quote(error)
    return f"/coordinacion/ciclos/{cycle_id}" + ("?aviso=" + quote(notice) if notice else "")


async def _form_of(request: Request) -> dict[str, list[str]]:
    form = await request.form()
    return {key: [v for v in form.getlist(key) if isinstance(v, str)] for key in form.keys()}


async def _every(web: WebSession, path: str, notes: list[str], what: str, *, params: dict | None = None) -> list[dict]:
    """Every item of a list the page needs whole (at most 5 pages of 200); a refusal is a note."""
    return await every_page(web, path, params, pages=5, page_size=200, notes=notes, what=what)


@router.get("/coordinacion")
async def coordinator_home(request: Request, web: Web):
    principal = web.require("coordinator")
    params = {"limit": 30, "mine": "true" if not principal.is_admin else None}
    cycles = views.items_of(await web.call("GET", "/api/orders/cycles", params=params))
    return render(request, web, "coordinator.html", title="Ciclos de pedido", cycles=cycles)


# --- opening a cycle ---

async def _offer(web: WebSession, notes: list[str]) -> tuple[list[dict], list[dict]]:
    points = await _every(web, "/api/delivery/points", notes, "Puntos de entrega")
    for point in points:
        point["days"] = days_text([WEEKDAYS[d] for d in open_weekdays(point.get("schedule", []))])
    products = await _every(web, "/api/catalog/products", notes, "Productos")
    return points, products


def _new_cycle_page(request: Request, web: WebSession, *, form: dict, points: list[dict], products: list[dict],
                    errors: dict | None = None, notes: list[str] | None = None, error: str = "", status: int = 200):
    return render(request, web, "cycle_new.html", status_code=status, title="Abrir un ciclo", form=form,
                  points=points, products=products, errors=errors or {}, notes=notes or [], error=error,
                  fee_rows=range(1, FEE_ROWS + 1), baskets=range(1, BASKETS + 1),
                  basket_lines=range(1, BASKET_LINES + 1), fee_kinds=FEE_KINDS, fee_bases=FEE_BASES,
                  fee_payers=FEE_PAYERS, key=uuid.uuid4().hex)


def _refusal(exc: UpstreamError) -> str:
    """The orders service's refusal of a new cycle, naming the points closed on the delivery day."""
    closed = (exc.details or {}).get("points") if exc.code == "point_closed_on_delivery_day" else None
    if not closed:
        return exc.message
    named = "; ".join(f"«{p.get('name')}» abre {days_text(p.get('open_days') or [])}" for p in closed)
    return (f"El día de entrega es {exc.details.get('weekday', '')} y estos puntos no abren ese día: {named}. "
            "Elija otra fecha o quite esos puntos.")


@router.get("/coordinacion/ciclos/nuevo")
async def new_cycle_form(request: Request, web: Web):
    web.require("coordinator")
    notes: list[str] = []
    points, products = await _offer(web, notes)
    return _new_cycle_page(request, web, form=blank_form(points), points=points, products=products,
                           notes=notes)


@router.post("/coordinacion/ciclos/nuevo")
async def open_cycle(request: Request, web: Web):
    """Draft the cycle, add its agrobolsas, then open it: a cycle is never open without its agrobolsas.
    A step refused after the draft exists leaves the draft (nothing is offered) and says so on its page."""
    web.require("coordinator")
    form = await _form_of(request)
    notes: list[str] = []
    points, products = await _offer(web, notes)
    read = read_cycle_form(form, points={p["id"]: p["name"] for p in points},
                           products={p["id"]: p["name"] for p in products})
    if read.errors:
        return _new_cycle_page(request, web, form=form, points=points, products=products, errors=read.errors,
                               notes=notes, error="Revise los campos marcados.", status=422)
    key = (form.get("clave") or [""])[0][:60] or uuid.uuid4().hex
    try:
        cycle = await web.call("POST", "/api/orders/cycles", json=read.cycle, idempotency_key=f"{key}-ciclo")
    except UpstreamError as exc:
        return _new_cycle_page(request, web, form=form, points=points, products=products, notes=notes,
                               error=_refusal(exc), status=exc.status if exc.status < 500 else 503)
    try:
        for i, basket in enumerate(read.baskets, start=1):
            await web.call("POST", f"/api/orders/cycles/{cycle['id']}/baskets", json=basket,
                           idempotency_key=f"{key}-bolsa-{i}")
        await web.call("PATCH", f"/api/orders/cycles/{cycle['id']}", json={"status": "open"},
                       idempotency_key=f"{key}-abrir")
    except UpstreamError as exc:
        return redirect(_cycle_url(cycle["id"], error="El ciclo quedó como borrador: " + exc.message), web)
    return redirect(_cycle_url(cycle["id"], notice="Ciclo abierto: ya se puede pedir."), web)


# --- watching and running a cycle ---

async def _account_names(request: Request, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    async with request.app.state.db.session() as session:
        rows = await session.execute(select(Account.id, Account.name).where(Account.id.in_(ids)))
        return {r.id: r.name for r in rows}


def _route_figure(plan: dict, points: dict[int, dict], with_orders: set[int]):
    legs, planned = [], set()
    for route in plan.get("routes", []):
        stops = []
        for stop in route.get("stops", []):
            point = points.get(stop["point_id"])
            if point is None:
                continue
            planned.add(stop["point_id"])
            stops.append(MapPoint(f"{stop['sequence']}. {stop['point_name']} · llega {stop['arrival']} · "
                                  f"{stop['load_kg']:g} kg", point["lat"], point["lon"], number=stop["sequence"]))
        legs.append(RouteLeg(route["vehicle"], stops))
    others = [MapPoint(f"{points[p]['name']} (sin parada)", points[p]["lat"], points[p]["lon"])
              for p in sorted(with_orders - planned) if p in points]
    depot = plan["depot"]
    return route_map(legs, depot=(depot["lat"], depot["lon"]), others=others,
                     title="Rutas del día de entrega: centro de acopio y paradas de cada vehículo")


@router.get("/coordinacion/ciclos/{cycle_id}")
async def cycle_page(request: Request, web: Web, cycle_id: int, todos: bool = False):
    web.require("coordinator")
    staff = await web.call("GET", f"/api/delivery/cycles/{cycle_id}/staff")  # hers (or an admin's) only
    cycle = await web.call("GET", f"/api/orders/cycles/{cycle_id}")
    notes: list[str] = []
    orders = await _every(web, "/api/orders/orders", notes, "Pedidos", params={"cycle_id": cycle_id})
    orders = [o for o in orders if o.get("cycle_id") == cycle_id]
    points = {p["id"]: p for p in await _every(web, "/api/delivery/points", notes, "Puntos")}
    availability = {}
    for point_id in cycle["delivery_point_ids"]:
        seen = await optional(web, "GET", f"/api/delivery/points/{point_id}/availability", notes, "Cupos",
                              params={"cycle_id": cycle_id})
        if seen:
            availability[point_id] = seen
    products = {p["id"]: p for p in await _every(web, "/api/catalog/products", notes, "Productos")}
    baskets = await optional(web, "GET", f"/api/orders/cycles/{cycle_id}/baskets", notes, "Agrobolsas") or []
    names = await _account_names(request, {s["account_id"] for s in staff})
    plan, figure = None, ""
    if cycle["status"] in CLOSED:
        response = await web.call("GET", f"/api/delivery/cycles/{cycle_id}/routes", raw=True)
        if response.status_code == 200:
            plan = response.json()
            with_orders = {o["delivery_point_id"] for o in orders if o.get("status") in ACTIVE}
            figure = _route_figure(plan, points, with_orders)
    return render(request, web, "cycle.html", title=cycle["name"], cycle=cycle, notes=notes,
                  summary=order_summary(orders), orders=orders if todos else orders[:ORDERS_SHOWN],
                  all_orders=len(orders),
                  points=point_rows(cycle=cycle, points=points, availability=availability, staff=staff, names=names),
                  point_names={pid: p["name"] for pid, p in points.items()},
                  low=running_low(orders=orders, products=products),
                  baskets=basket_rows(baskets=baskets, products=products), plan=plan, route_map=figure,
                  fee_kinds=FEE_KINDS, fee_bases=FEE_BASES, fee_payers=FEE_PAYERS)


async def _acting(web: WebSession, cycle_id: int, call, done: str, *, back: str = ""):
    """Run one change for the cycle page and go back to it (or to `back`) saying what happened, or why not."""
    page = back or f"/coordinacion/ciclos/{cycle_id}"
    try:
        message = await call()
    except UpstreamError as exc:
        return redirect(f"{page}?error=" + quote(exc.message), web)
    return redirect(f"{page}?aviso=" + quote(message or done), web)


@router.post("/coordinacion/ciclos/{cycle_id}/abrir")
async def coordinator_open(web: Web, cycle_id: int):
    web.require("coordinator")

    async def open_it():
        await web.call("PATCH", f"/api/orders/cycles/{cycle_id}", json={"status": "open"})

    return await _acting(web, cycle_id, open_it, "Ciclo abierto: ya se puede pedir.")


async def _closed_soon(web: WebSession, cycle_id: int, seconds: float = 30) -> bool:
    """Whether a close still running (its first call outlasted the service client's wait) ends within
    `seconds`: the coordinator then lands on the lists instead of an error about a key."""
    for _ in range(int(seconds)):
        await asyncio.sleep(1)
        cycle = await optional(web, "GET", f"/api/orders/cycles/{cycle_id}", [], "Ciclo")
        if cycle and cycle.get("status") != "open":
            return True
    return False


@router.post("/coordinacion/ciclos/{cycle_id}/cerrar")
async def coordinator_close(web: Web, cycle_id: int):
    web.require("coordinator")
    try:
        result = await web.call("POST", f"/api/orders/cycles/{cycle_id}/close")
    except UpstreamError as exc:
        if exc.code != "idempotency_in_progress" or not await _closed_soon(web, cycle_id):
            return redirect(_cycle_url(cycle_id, error=exc.message), web)
        result = {}  # a big cycle took longer than one call: its close went on, and it is now closed
    message = "Ciclo cerrado y consolidado."
    if result.get("consolidation_error"):
        message = "Ciclo cerrado; la consolidación se reintentará: " + result["consolidation_error"]["message"]
    return redirect(f"/coordinacion/ciclos/{cycle_id}/listas?aviso=" + quote(message), web)


@router.post("/coordinacion/ciclos/{cycle_id}/personal")
async def coordinator_assign(request: Request, web: Web, cycle_id: int):
    """Assign someone to a point by the phone number or e-mail she logs in with."""
    web.require("coordinator")
    form = await _form_of(request)
    point, login = (form.get("punto") or [""])[0], (form.get("cuenta") or [""])[0].strip()

    async def assign():
        if not point.isdigit():
            raise UpstreamError("Elija el punto.", status=422)
        try:
            kind, value = login_kind(login)
        except ValueError:
            raise UpstreamError("Escriba el teléfono o el correo con que la persona ingresa.", status=422) from None
        async with request.app.state.db.session() as session:
            account = await find_account(session=session, **{kind: value})
        if account is None or not account.is_active:
            raise UpstreamError(f"No hay ninguna cuenta activa con «{login}».", status=422)
        await web.call("POST", f"/api/delivery/cycles/{cycle_id}/points/{point}/staff",
                       json={"account_id": account.id})
        return f"{account.name} atiende ahora el punto."

    return await _acting(web, cycle_id, assign, "")


@router.post("/coordinacion/ciclos/{cycle_id}/personal/quitar")
async def coordinator_unassign(request: Request, web: Web, cycle_id: int):
    web.require("coordinator")
    form = await _form_of(request)
    point, account = (form.get("punto") or [""])[0], (form.get("cuenta") or [""])[0]

    async def remove():
        if not (point.isdigit() and account.isdigit()):
            raise UpstreamError("Elija a quién quitar de qué punto.", status=422)
        await web.call("DELETE", f"/api/delivery/cycles/{cycle_id}/points/{point}/staff/{account}")
        return "Ya no atiende ese punto en este ciclo."

    return await _acting(web, cycle_id, remove, "")


@router.post("/coordinacion/ciclos/{cycle_id}/pagos")
async def coordinator_payment(request: Request, web: Web, cycle_id: int):
    """A consumer's payment (cash, QR, transfer) or a refund to her, on one of the cycle's orders."""
    web.require("coordinator")
    form = await _form_of(request)

    def one(name: str) -> str:
        return (form.get(name) or [""])[0].strip()

    refund = one("tipo") == "devolucion"

    async def record():
        order_id, amount, method = one("pedido"), number(one("monto")), one("metodo")
        if not order_id.isdigit():
            raise UpstreamError("Falta el pedido.", status=422)
        if amount is None or amount <= 0 or amount != amount.quantize(number("0.01")):
            raise UpstreamError(f"Pedido #{order_id}: escriba el monto en bolivianos, por ejemplo 25,50.", status=422)
        if method not in PAYMENT_METHODS:
            raise UpstreamError("Elija cómo se pagó: efectivo, QR o transferencia.", status=422)
        body = {"order_id": int(order_id), "amount": format(amount, "f"), "method": method,
                "client_id": ("web-refund-" if refund else "web-payment-") + (one("clave")[:60] or uuid.uuid4().hex),
                "reference": one("referencia")[:120] or None}
        try:
            await web.call("POST", "/api/payments/refunds" if refund else "/api/payments/payments", json=body)
        except UpstreamError as exc:
            raise UpstreamError(_payment_refusal(exc, order_id), code=exc.code, status=exc.status) from None
        what = "Devolución" if refund else "Pago"
        return f"{what} de {views.bs(body['amount'])} ({PAYMENT_METHODS[method].lower()}) registrado en el pedido #{order_id}."

    order_id = one("pedido")
    return await _acting(web, cycle_id, record, "",
                         back=f"/coordinacion/ciclos/{cycle_id}/pedidos/{order_id}" if order_id.isdigit() else "")


@router.get("/coordinacion/ciclos/{cycle_id}/pedidos/{order_id}")
async def cycle_order_page(request: Request, web: Web, cycle_id: int, order_id: int):
    """One order of her cycle: its lines and fees, what is paid, due and refunded, and the form to
    record a payment or a refund (the orders service shows an order only to its consumer, the
    cycle's coordinator and admins)."""
    web.require("coordinator")
    try:
        order = await web.call("GET", f"/api/orders/orders/{order_id}")
    except UpstreamError as exc:
        if exc.status != 404:
            raise
        order = None
    if order is None or order["cycle_id"] != cycle_id:
        raise UpstreamError(f"No hay un pedido #{order_id} en este ciclo suyo.", status=404)
    notes: list[str] = []
    balance = await optional(web, "GET", f"/api/payments/orders/{order_id}/balance", notes, "Pagos")
    point = await optional(web, "GET", f"/api/delivery/points/{order['delivery_point_id']}", notes, "Punto")
    return render(request, web, "cycle_order.html", title=f"Pedido #{order_id}", order=order, cycle_id=cycle_id,
                  balance=balance, point=point, notes=notes, payable=PAYABLE, methods=PAYMENT_METHODS,
                  fee_kinds=FEE_KINDS, key=uuid.uuid4().hex)


def _payment_refusal(exc: UpstreamError, order_id: str) -> str:
    """The payments service's refusal of a payment or refund, with its amounts as people read them."""
    details = exc.details or {}
    said = {"overpayment": f"el pago supera lo que se debe ({views.bs(details.get('due'))}).",
            "refund_exceeds_credit": f"solo se puede devolver lo pagado de más: {views.bs(details.get('refundable'))}.",
            "order_cancelled": "el pedido fue cancelado; no se debe nada.",
            "order_not_found": "pagos aún no conoce este pedido; intente de nuevo en un momento."}.get(exc.code)
    return f"Pedido #{order_id}: {said}" if said else exc.message


@router.post("/coordinacion/ciclos/{cycle_id}/no-recogidos")
async def coordinator_no_shows(web: Web, cycle_id: int):
    web.require("coordinator")

    async def mark():
        result = await web.call("POST", f"/api/delivery/cycles/{cycle_id}/no-shows")
        count = len(result.get("no_shows", []))
        if not count:
            return "Ningún pedido para marcar: los que faltan aún están dentro de su horario de recojo."
        return f"{count} pedido(s) marcados como no recogidos."

    return await _acting(web, cycle_id, mark, "")


@router.post("/coordinacion/ciclos/{cycle_id}/rutas")
async def coordinator_routes(request: Request, web: Web, cycle_id: int):
    web.require("coordinator")
    form = await _form_of(request)

    def one(name: str) -> str:
        return (form.get(name) or [""])[0].strip()

    async def plan():
        vehicles, capacity, start = number(one("vehiculos")), number(one("capacidad")), one("salida")
        if vehicles is None or vehicles != vehicles.to_integral_value() or not 1 <= vehicles <= 200:
            raise UpstreamError("Escriba cuántos vehículos hay (1 a 200).", status=422)
        if capacity is None or not 0 < capacity <= 100000:
            raise UpstreamError("Escriba cuántos kg carga cada vehículo (más que cero).", status=422)
        body = {"vehicles": {"count": int(vehicles), "capacity_kg": float(capacity)}}
        if start:
            body["day_start"] = start
        result = await web.call("POST", f"/api/delivery/cycles/{cycle_id}/routes", json=body)
        return f"Rutas planificadas: {len(result.get('routes', []))} vehículo(s), {result.get('total_distance_km', 0):g} km."

    return await _acting(web, cycle_id, plan, "")


# --- consolidation lists ---

@router.get("/coordinacion/ciclos/{cycle_id}/listas")
async def coordinator_lists(request: Request, web: Web, cycle_id: int):
    web.require("coordinator")
    doc = await web.call("GET", f"/api/orders/cycles/{cycle_id}/consolidation")
    notes: list[str] = []
    points = {p["id"]: p["name"] for p in await _every(web, "/api/delivery/points", notes, "Puntos")}
    organizations = {o["id"]: o["name"] for o in await _every(web, "/api/catalog/organizations", notes,
                                                               "Organizaciones")}
    return render(request, web, "cycle_lists.html", title=f"Listas del ciclo {cycle_id}", doc=doc,
                  cycle_id=cycle_id, points=points, organizations=organizations)


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
