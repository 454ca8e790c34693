"""The consumer's own orders: each with its state (confirmed, waiting with its place in the line,
ready, picked up), the pickup code and its QR, and while the cycle is open, cancelling it or moving
a waiting order to another point with room. The catalogue and the cart are in `shop`.

Whose order it is stays in the orders service: these pages call its API as the logged-in account.
"""

import uuid
from decimal import Decimal, InvalidOperation
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Path, Request

from gateway.web import views
from gateway.web.csrf import refuse_cross_site_posts
from gateway.web.pickup_qr import payload
from gateway.web.session import UpstreamError, WebSession, optional, web_session
from gateway.web.shop import points_open_for, redirect
from gateway.web.svg import qr_svg
from gateway.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(refuse_cross_site_posts)])
Web = Annotated[WebSession, Depends(web_session)]
OrderId = Annotated[int, Path(ge=1, le=2**53)]
CHANGEABLE = ("placed", "waitlisted")  # what the orders service still cancels while the cycle is open
MESSAGES = {
    "order_not_cancellable": "Este pedido ya no se puede cancelar.",
    "order_not_waiting": "Solo un pedido en lista de espera cambia de punto.",
    "same_point": "El pedido ya espera en ese punto; elija otro.",
    "not_your_order": "Ese pedido no es suyo.",
    "order_not_found": "No existe ese pedido.",
    "order_changed": "El pedido acaba de recibir un cupo; revise su estado e intente de nuevo.",
}


def said(exc: UpstreamError) -> str:
    return MESSAGES.get(exc.code, exc.message)


def is_open(cycle: dict | None) -> bool:
    return bool(cycle) and cycle.get("status") == "open"


async def credit_of(web: WebSession) -> dict | None:
    """Her saldo a favor (payments): `{balance: Decimal, refund_request}`, or None when she is not a
    consumer or payments does not answer."""
    principal = web.principal
    if principal is None or principal.role.value != "consumer":
        return None
    try:
        found = await web.call("GET", f"/api/payments/credit/{principal.account_id}")
    except UpstreamError:
        return None
    return {"balance": Decimal(str(found.get("balance") or 0)), "refund_request": found.get("refund_request")}


@router.get("/pedidos")
async def my_orders(request: Request, web: Web):
    web.require()
    orders = views.items_of(await web.call("GET", "/api/orders/orders", params={"limit": 20}))
    return render(request, web, "consumer/orders.html", title="Mis pedidos", orders=orders,
                  credit=await credit_of(web))


@router.post("/pedidos/saldo/devolucion")
async def ask_credit_back(web: Web, method: Annotated[str, Form(pattern="^(cash|qr|transfer)$")]):
    """She asks for all her saldo a favor back, the way she chose; an administrator pays it."""
    principal = web.require("consumer")
    try:
        await web.call("POST", f"/api/payments/credit/{principal.account_id}/refund-requests",
                       json={"method": method})
    except UpstreamError as exc:
        return redirect("/pedidos?error=" + quote(exc.message), web)
    return redirect("/pedidos", web)


@router.post("/pedidos/{order_id}/saldo")
async def pay_with_credit(web: Web, order_id: OrderId, idempotency_key: Annotated[str, Form(max_length=64)]):
    """Her saldo a favor pays as much of the order as it can (payment method credito)."""
    principal = web.require("consumer")
    try:
        await web.call("POST", f"/api/payments/credit/{principal.account_id}/spend",
                       json={"order_id": order_id, "client_id": f"web-{idempotency_key}"[:120]})
    except UpstreamError as exc:
        return redirect(f"/pedidos/{order_id}?error=" + quote(exc.message), web)
    return redirect(f"/pedidos/{order_id}", web)


@router.get("/pedidos/{order_id}")
async def order_page(request: Request, web: Web, order_id: OrderId):
    web.require()
    order = await web.call("GET", f"/api/orders/orders/{order_id}")
    notes: list[str] = []
    point = await optional(web, "GET", f"/api/delivery/points/{order['delivery_point_id']}", notes, "Punto")
    cycle = await optional(web, "GET", f"/api/orders/cycles/{order['cycle_id']}", notes, "Ciclo")
    code = order.get("pickup_code")
    share = ""
    if code:
        where = point["name"] if point else "el punto de entrega"
        when = f" el {views.day(cycle['delivery_date'])}" if cycle else ""
        text = (f"Mi pedido #{order['id']} de Mercado Corto: recojo en {where}{when}. "
                f"Código de recojo: {code}. Total {views.bs(order.get('total'))}.")
        share = "https://wa.me/?text=" + quote(text)
    changeable = order["status"] in CHANGEABLE and is_open(cycle)
    others = []
    if changeable and order["status"] == "waitlisted":
        try:
            others = [p for p in await points_open_for(web, cycle, None) if p["id"] != order["delivery_point_id"]]
        except UpstreamError as exc:
            notes.append(f"Otros puntos: {exc.message}")
    credit, due = await credit_of(web), None
    credit = credit["balance"] if credit else None
    if credit:
        try:
            due = Decimal(str((await web.call("GET", f"/api/payments/orders/{order_id}/balance"))["due"]))
        except (UpstreamError, KeyError, InvalidOperation):
            due = None
    return render(request, web, "consumer/order.html", title=f"Pedido #{order_id}", order=order, point=point,
                  cycle=cycle, qr=qr_svg(payload(order["id"], code)) if code else "", share=share,
                  changeable=changeable, others=others, notes=notes, credit=credit, due=due,
                  idempotency_key=uuid.uuid4().hex)


@router.post("/pedidos/{order_id}/cancelar")
async def cancel(web: Web, order_id: OrderId):
    web.require("consumer")
    try:
        await web.call("POST", f"/api/orders/orders/{order_id}/cancel")
    except UpstreamError as exc:
        return redirect(f"/pedidos/{order_id}?error=" + quote(said(exc)), web)
    return redirect(f"/pedidos/{order_id}?aviso=" + quote("Pedido cancelado; sus productos vuelven a la venta."), web)


@router.post("/pedidos/{order_id}/punto")
async def move(web: Web, order_id: OrderId, delivery_point_id: Annotated[int, Form(ge=1, le=2**53)]):
    web.require("consumer")
    try:
        await web.call("POST", f"/api/orders/orders/{order_id}/move", json={"delivery_point_id": delivery_point_id})
    except UpstreamError as exc:
        return redirect(f"/pedidos/{order_id}?error=" + quote(said(exc)), web)
    return redirect(f"/pedidos/{order_id}?aviso=" + quote("Pedido confirmado en el nuevo punto."), web)
