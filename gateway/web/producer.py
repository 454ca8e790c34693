"""The producer's pages: registering with her phone and saying who she is (community, municipality,
the organization she asks to join), her products with stock and prices (a new one with its photo, a
price checked against the municipality's fair band: `listing`), this cycle's pick list, her
statement and early payment (pronto pago).

Each page reads through the gateway's own API as the logged-in user, so every rule about who may see or
change what stays in the services; a part a service cannot answer is left out with a note.
"""

import asyncio
import uuid
from decimal import Decimal
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile

from gateway.web import listing, views
from gateway.web.csrf import keep_token, refuse_cross_site_posts
from gateway.web.session import LoginRequired, UpstreamError, Web, WebSession, optional
from gateway.web.shop import redirect
from gateway.web.svg import Series, line_chart
from gateway.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(refuse_cross_site_posts)])

@router.get("/productor")
async def producer_home(request: Request, web: Web):
    if web.principal is not None and web.principal.is_unverified_organization:
        return render(request, web, "producer/home.html", title="Organización por verificar", products=[],
                      statement=None, receivables=[], eligibility=None, advances=[], picks=[],
                      notes=["Tu cuenta de organización aún no está verificada: una coordinadora o un "
                             "administrador debe vincularla a tu organización registrada. Mientras tanto "
                             "solo puedes cambiar tu perfil."],
                      idempotency_key="", producer_id=None)
    principal = web.require("producer", "organization")
    if principal.role.value == "producer" and not principal.producer_id:
        return redirect("/productor/perfil", web)  # registered, but not yet said who she is
    notes: list[str] = []
    producer_id = principal.producer_id
    params = {"producer": producer_id, "limit": 100} if producer_id else \
        {"organization": principal.organization_id, "limit": 100}
    products_call = optional(web, "GET", "/api/catalog/products", notes, "Productos", params=params)
    if not producer_id:  # an organization account: its members' products
        products = [views.product_view(p) for p in views.items_of(await products_call)]
        return render(request, web, "producer/home.html", title="Productos de la organización", products=products,
                      statement=None, receivables=[], eligibility=None, advances=[], picks=[], notes=notes,
                      idempotency_key="", producer_id=None)
    base = f"/api/payments/producers/{producer_id}"
    page, receivables, eligibility, advances, (picks, deliveries) = await asyncio.gather(
        products_call,
        optional(web, "GET", f"{base}/receivables", notes, "Estado de cuenta"),
        optional(web, "GET", f"{base}/eligibility", notes, "Pronto pago"),
        optional(web, "GET", f"{base}/advances", notes, "Adelantos"),
        consignments(web, producer_id, notes))
    receivables, advances = receivables or [], advances or []
    statement = None
    if receivables:
        statement = await optional(web, "GET", f"{base}/statement", notes, "Liquidación",
                                   params={"cycle_id": receivables[0]["cycle_id"]})
    return render(request, web, "producer/home.html", title="Mis productos",
                  products=[views.product_view(p) for p in views.items_of(page)], statement=statement,
                  receivables=receivables[:10], eligibility=eligibility, advances=advances[:10], picks=picks,
                  deliveries=deliveries, notes=notes, idempotency_key=uuid.uuid4().hex, producer_id=producer_id)


async def consignments(web: WebSession, producer_id: int | None, notes: list[str], *,
                       with_received: bool = True) -> tuple[list[dict], list[dict]]:
    """Her consignments (delivery): pending ones (the pick list) and, `with_received`, her ten latest
    received ones (what was accepted, what rejected and why), each with its point's name and address
    and its cycle's delivery day. Without `producer_id`, all the account may read (an organization:
    its members')."""
    asked = {"producer_id": producer_id} if producer_id else {}
    calls = [web.call("GET", "/api/delivery/consignments", raw=True,
                      params={**asked, "status": "pending", "limit": 100})]
    if with_received:
        calls.append(web.call("GET", "/api/delivery/consignments", raw=True,
                              params={**asked, "status": "received", "sort": "newest", "limit": 10}))
    responses = await asyncio.gather(*calls)
    if responses[0].status_code in (401, 403):
        notes.append("Lista de recojo: su cuenta aún no está vinculada a un productor; "
                     "pida a la coordinación que la vincule.")
        return [], []
    if any(r.status_code != 200 for r in responses):
        notes.append("Lista de recojo: no disponible en este momento.")
        return [], []
    pending, *latest = [views.items_of(r.json()) for r in responses]
    received = latest[0] if latest else []
    mine = pending + received
    if mine:
        cycle_ids = sorted({c["cycle_id"] for c in mine})
        points, *cycles = await asyncio.gather(
            web.call("GET", "/api/delivery/points", params={"limit": 100}),
            *(web.call("GET", f"/api/orders/cycles/{cycle_id}", raw=True) for cycle_id in cycle_ids))
        places = {p["id"]: p for p in views.items_of(points)}
        days = {cycle_id: r.json().get("delivery_date") for cycle_id, r in zip(cycle_ids, cycles, strict=True)
                if r.status_code == 200}
        for c in mine:
            place = places.get(c["delivery_point_id"], {})
            c["point_name"] = place.get("name", f"punto {c['delivery_point_id']}")
            c["point_address"] = place.get("address", "")
            c["delivery_date"] = days.get(c["cycle_id"])
    return pending, received


@router.post("/productor/productos/{product_id:int}")
async def producer_update(request: Request, web: Web, product_id: int, price: Annotated[str, Form(max_length=20)],
                          available: Annotated[str, Form(max_length=20)] = "",
                          confirmed: Annotated[str, Form(max_length=1)] = "",
                          idempotency_key: Annotated[str, Form(max_length=64)] = ""):
    """Price and stock; a price outside the municipality's fair band is asked again, not refused."""
    web.require("producer", "organization")
    changes: dict = {}
    value, stock = listing.decimal_of(price), listing.decimal_of(available) if available.strip() else None
    if value is None or value <= 0 or (available.strip() and (stock is None or stock < 0)):
        return redirect("/productor?error=" + quote("Escriba el precio y el stock con números, p. ej. 12,50."), web)
    changes["price"] = f"{value:.2f}"
    if stock is not None:
        changes["available"] = f"{stock.normalize():f}"
    if confirmed != "1":
        product = await web.call("GET", f"/api/catalog/products/{product_id}")
        references = await listing.references_of(web, product.get("municipality_code"))
        warning = listing.band_warning(value, listing.reference_for(references, product["name"], product["category"],
                                                                    product["unit"]))
        if warning:
            return await product_page(request, web, product_id, warning=warning, price_text=price,
                                      available_text=available)
    try:
        # an edit queued offline may reach us twice: the catalogue applies its key once
        await web.call("PATCH", f"/api/catalog/products/{product_id}", json=changes,
                       idempotency_key=idempotency_key or None)
    except UpstreamError as exc:
        return redirect("/productor?error=" + quote(exc.message), web)
    return redirect(f"/productor/productos/{product_id}?aviso=" + quote("Precio y stock guardados."), web)


@router.get("/productor/productos/{product_id:int}")
async def producer_product(request: Request, web: Web, product_id: int):
    return await product_page(request, web, product_id)


async def product_page(request: Request, web: WebSession, product_id: int, *, warning: str = "",
                       price_text: str = "", available_text: str = ""):
    web.require("producer", "organization")
    raw = await web.call("GET", f"/api/catalog/products/{product_id}")
    product = views.product_view(raw)
    history, references = await asyncio.gather(
        web.call("GET", f"/api/catalog/products/{product_id}/prices", params={"limit": 50}),
        listing.references_of(web, raw.get("municipality_code")))
    history = views.items_of(history)
    values = [float(Decimal(h["price"])) for h in reversed(history)]
    labels = [str(h["changed_at"])[:10] for h in reversed(history)]
    chart = line_chart(labels, [Series("Precio", values)], title="Historial de precios", unit=" (Bs)") \
        if len(values) > 1 else ""
    reference = listing.reference_for(references, raw["name"], raw["category"], raw["unit"])
    return render(request, web, "producer/product.html", title=product["name"], product=product, history=history,
                  chart=chart, reference=reference, warning=warning,
                  price_text=price_text or product["price_value"].replace(".", ","),
                  available_text=available_text or product["available_raw"].replace(".", ","))


@router.post("/productor/adelanto/oferta")
async def advance_offer(request: Request, web: Web, amount: Annotated[str, Form(max_length=20)],
                        idempotency_key: Annotated[str, Form(max_length=64)]):
    """Before asking: what the advance would be (amount, fee, what she repays and when), to confirm."""
    principal = web.require("producer")
    value = listing.decimal_of(amount)
    if value is None or value <= 0:
        return redirect("/productor?error=" + quote("Escriba el monto con números, p. ej. 150,00."), web)
    try:
        offer = await web.call("POST", "/api/payments/advances/offer",
                               json={"producer_id": principal.producer_id, "amount": f"{value:.2f}"})
    except UpstreamError as exc:
        return redirect("/productor?error=" + quote(exc.message), web)
    return render(request, web, "producer/advance_offer.html", title="Su adelanto", offer=offer,
                  idempotency_key=idempotency_key, confirm_action="/productor/adelanto", back="/productor")


@router.post("/productor/adelanto")
async def producer_advance(web: Web, amount: Annotated[str, Form(max_length=20)],
                           idempotency_key: Annotated[str, Form(max_length=64)],
                           policy_id: Annotated[str, Form(max_length=20)] = ""):
    principal = web.require("producer")
    value = listing.decimal_of(amount)
    if value is None or value <= 0:
        return redirect("/productor?error=" + quote("Escriba el monto con números, p. ej. 150,00."), web)
    body = {"producer_id": principal.producer_id, "amount": f"{value:.2f}"}
    if policy_id.isdigit():
        body["policy_id"] = int(policy_id)  # the policy of the offer she read
    try:
        await web.call("POST", "/api/payments/advances", json=body, idempotency_key=idempotency_key)
    except UpstreamError as exc:
        return redirect("/productor?error=" + quote(exc.message), web)
    return redirect("/productor?aviso=" + quote("Solicitud de pronto pago enviada."), web)


# --- registering: an account with her phone, then who she is -----------------------------------

GENDERS = {"female": "Mujer", "male": "Hombre", "other": "Prefiero no decir"}


@router.get("/productor/registro")
async def register_form(request: Request, web: Web):
    if web.principal is not None:
        return redirect("/productor", web)
    return render(request, web, "producer/register.html", title="Registrarme como productora", values={})


@router.post("/productor/registro")
async def register(request: Request, web: Web, name: Annotated[str, Form(max_length=200)],
                   phone: Annotated[str, Form(max_length=30)], password: Annotated[str, Form(max_length=128)]):
    values = {"name": name, "phone": phone}
    if len(password) < 8:
        return render(request, web, "producer/register.html", status_code=422, title="Registrarme como productora",
                      values=values, error="La contraseña necesita al menos 8 letras o números.")
    response = await web.call("POST", "/api/auth/register", raw=True, json={
        "name": name.strip(), "phone": phone.strip(), "password": password, "role": "producer"})
    if response.status_code != 201:
        message = "Revise su nombre y su número de celular (8 dígitos, p. ej. 71234567)."
        if response.status_code == 409:
            message = "Ya hay una cuenta con ese celular: ingrese con él."
        elif response.status_code == 429:
            message = "Demasiadas solicitudes; espere un minuto e intente de nuevo."
        elif response.status_code >= 500:
            message = "El servicio no responde en este momento; intente de nuevo en un rato."
        return render(request, web, "producer/register.html", status_code=min(response.status_code, 503),
                      title="Registrarme como productora", values=values, error=message)
    tokens = await web.call("POST", "/api/auth/login", json={"login": phone.strip(), "password": password})
    web.adopt(tokens)
    answer = redirect("/productor/perfil?aviso=" + quote("Cuenta creada. Ahora cuéntenos de dónde es."), web)
    keep_token(request, answer, renew=True)
    return answer


async def _places(web: WebSession) -> tuple[list[dict], list[dict]]:
    municipalities, organizations = await asyncio.gather(
        web.call("GET", "/api/catalog/municipalities", params={"limit": 100}),
        web.call("GET", "/api/catalog/organizations", params={"limit": 100}))
    return (sorted(views.items_of(municipalities), key=lambda m: m["name"]),
            sorted(views.items_of(organizations), key=lambda o: o["name"]))


@router.get("/productor/perfil")
async def profile(request: Request, web: Web):
    principal = web.require("producer")
    municipalities, organizations = await _places(web)
    producer, requests = None, []
    if principal.producer_id:
        producer, requests = await asyncio.gather(
            web.call("GET", f"/api/catalog/producers/{principal.producer_id}"),
            web.call("GET", f"/api/catalog/producers/{principal.producer_id}/memberships"))
    names = {o["id"]: o["name"] for o in organizations}
    for r in requests:
        r["organization_name"] = names.get(r["organization_id"], f"organización {r['organization_id']}")
    pending = any(r["status"] == "pending" for r in requests)
    return render(request, web, "producer/profile.html", title="Mi perfil", producer=producer,
                  municipalities=municipalities, organizations=organizations, requests=requests[::-1],
                  genders=GENDERS, may_ask=producer is not None and not pending)


@router.post("/productor/perfil")
async def save_profile(web: Web, gender: Annotated[str, Form(max_length=10)] = "",
                       community: Annotated[str, Form(max_length=120)] = "",
                       municipality_code: Annotated[str, Form(max_length=6)] = "",
                       organization_id: Annotated[str, Form(max_length=20)] = ""):
    """First time: her registry record (and a fresh token that speaks for it). Then, if she named one,
    her request to join an organization, which the organization confirms."""
    principal = web.require("producer")
    try:
        if not principal.producer_id:
            if gender not in GENDERS or not municipality_code:
                return redirect("/productor/perfil?error=" + quote("Elija su municipio y cómo se identifica."), web)
            await web.call("POST", "/api/auth/me/producer", json={
                "gender": gender, "community": community.strip() or None, "municipality_code": municipality_code})
            if not await web.renew():
                raise LoginRequired("/productor/perfil", "Su sesión terminó; ingrese de nuevo.")
            principal = web.principal
        elif community.strip():
            await web.call("PATCH", f"/api/catalog/producers/{principal.producer_id}",
                           json={"community": community.strip()})
        message = "Perfil guardado."
        if organization_id.strip().isdigit():
            await web.call("POST", f"/api/catalog/producers/{principal.producer_id}/memberships",
                           json={"organization_id": int(organization_id)})
            message += " Su pedido para unirse a la organización espera su confirmación."
    except UpstreamError as exc:
        return redirect("/productor/perfil?error=" + quote(exc.message), web)
    return redirect("/productor/perfil?aviso=" + quote(message), web)


# --- her products: a new one, its photo, withdrawing it ------------------------------------------

async def own_producer(web: WebSession) -> dict:
    principal = web.require("producer")
    if not principal.producer_id:
        raise LoginRequired("/productor/perfil", "Primero complete su perfil.")
    return await web.call("GET", f"/api/catalog/producers/{principal.producer_id}")


@router.get("/productor/productos/nuevo")
async def new_product(request: Request, web: Web):
    producer = await own_producer(web)
    references = await listing.references_of(web, producer["municipality_code"])
    return listing.form_page(request, web, action="/productor/productos/nuevo", producer=producer,
                             references=references)


@router.post("/productor/productos/nuevo")
async def create_product(request: Request, web: Web, name: Annotated[str, Form(max_length=200)] = "",
                         category: Annotated[str, Form(max_length=40)] = "",
                         unit: Annotated[str, Form(max_length=20)] = "",
                         price: Annotated[str, Form(max_length=20)] = "",
                         available: Annotated[str, Form(max_length=20)] = "",
                         confirmed: Annotated[str, Form(max_length=1)] = "",
                         photo: Annotated[UploadFile | None, File()] = None):
    producer = await own_producer(web)
    offer = listing.read_offer(name, category, unit, price, available)
    page, done = await listing.submit(request, web, action="/productor/productos/nuevo", producer=producer,
                                      offer=offer, photo=photo, confirmed=confirmed == "1")
    if page is not None:
        return page
    product, message = done
    return redirect(f"/productor/productos/{product['id']}?aviso=" + quote(message), web)


@router.post("/productor/productos/{product_id}/retirar")
async def withdraw_product(web: Web, product_id: int):
    web.require("producer", "organization")
    try:
        await web.call("DELETE", f"/api/catalog/products/{product_id}")
    except UpstreamError as exc:
        return redirect(f"/productor/productos/{product_id}?error=" + quote(exc.message), web)
    return redirect("/productor?aviso=" + quote("Producto retirado de la venta."), web)


@router.post("/productor/productos/{product_id}/foto")
async def change_photo(web: Web, product_id: int, photo: Annotated[UploadFile | None, File()] = None):
    web.require("producer", "organization")
    try:
        picture = await listing.photo_of(photo)
        if picture is None:
            raise listing.PhotoRefused("Elija una foto.")
        await web.call("POST", f"/api/catalog/products/{product_id}/photo", files={"file": picture})
    except (listing.PhotoRefused, UpstreamError) as exc:
        return redirect(f"/productor/productos/{product_id}?error=" + quote(getattr(exc, "message", str(exc))), web)
    return redirect(f"/productor/productos/{product_id}?aviso=" + quote("Foto guardada."), web)
