"""The producer's pages: her products with stock and prices, this cycle's pick list, her statement and
early payment (pronto pago).

Each page reads through the gateway's own API as the logged-in user, so every rule about who may see or
change what stays in the services; a part a service cannot answer is left out with a note.
"""

import asyncio
import uuid
from decimal import Decimal, InvalidOperation
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request

from gateway.web import views
from gateway.web.csrf import refuse_cross_site_posts
from gateway.web.session import UpstreamError, Web, WebSession, optional
from gateway.web.shop import redirect
from gateway.web.svg import Series, line_chart
from gateway.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(refuse_cross_site_posts)])

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
                          available: Annotated[str, Form(max_length=20)] = "",
                          idempotency_key: Annotated[str, Form(max_length=64)] = ""):
    web.require("producer", "organization")
    changes: dict = {}
    try:
        changes["price"] = f"{Decimal(price.replace(',', '.').strip()):.2f}"
        if available.strip():
            changes["available"] = f"{Decimal(available.replace(',', '.').strip()).normalize():f}"
    except InvalidOperation:
        return redirect("/productor?error=" + quote("Escriba el precio y el stock con números, p. ej. 12,50."), web)
    try:
        # an edit queued offline may reach us twice: the catalogue applies its key once
        await web.call("PATCH", f"/api/catalog/products/{product_id}", json=changes,
                       idempotency_key=idempotency_key or None)
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
