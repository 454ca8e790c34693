"""The organization's pages (`/organizacion`): its members and the requests to join it (confirm or
reject), registering a member who has no phone or e-mail, the organization's consolidated delivery
(what its members bring, per day and point), its statement per member, and acting for a member: her products and a new one
with its photo and the fair-band check (`listing`), her pick list, deliveries and statement.

Every call goes through the gateway's API as the organization's account, so the catalog decides what
it may do (its own verified organization, its confirmed members only); the pages check the same
before showing a member, so another organization's producer is a 404, not an empty page.
"""

import asyncio
import uuid
from decimal import Decimal
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile

from gateway.web import listing, views
from gateway.web.csrf import refuse_cross_site_posts
from gateway.web.producer import GENDERS, consignments
from gateway.web.session import UpstreamError, Web, WebSession, optional
from gateway.web.shop import redirect
from gateway.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(refuse_cross_site_posts)])


def organization_of(web: WebSession) -> int:
    """The organization this account speaks for (a verified organization account)."""
    return web.require("organization").organization_id


async def member_of(web: WebSession, organization_id: int, producer_id: int) -> dict:
    producer = await web.call("GET", f"/api/catalog/producers/{producer_id}")
    if producer.get("organization_id") != organization_id:
        raise UpstreamError("Esa productora no es socia de su organización.", code="not_your_member", status=404)
    return producer


@router.get("/organizacion")
async def home(request: Request, web: Web):
    organization_id = organization_of(web)
    base = f"/api/catalog/organizations/{organization_id}"
    notes: list[str] = []
    organization, members, pending, (to_deliver, _received), statement = await asyncio.gather(
        web.call("GET", base),
        web.call("GET", "/api/catalog/producers", params={"organization": organization_id, "limit": 100}),
        web.call("GET", f"{base}/memberships", params={"status": "pending"}),
        consignments(web, None, notes, with_received=False),
        optional(web, "GET", f"/api/payments/organizations/{organization_id}/members-statement", notes, "Estado de cuenta"))
    asking = await asyncio.gather(*(web.call("GET", f"/api/catalog/producers/{r['producer_id']}") for r in pending))
    for request_row, producer in zip(pending, asking, strict=True):
        request_row["producer"] = producer
    return render(request, web, "organization/home.html", title=organization["name"], organization=organization,
                  members=sorted(views.items_of(members), key=lambda p: p["name"]), pending=pending,
                  genders=GENDERS, consolidated=consolidated(to_deliver), notes=notes, statement=statement)


def consolidated(pending: list[dict]) -> list[dict]:
    """The organization's delivery: per delivery day and point, each product's total and how many
    members bring it."""
    totals: dict[tuple, dict] = {}
    for c in pending:
        for line in c.get("lines", []):
            key = (c.get("delivery_date") or "", c["point_name"], line["product_name"], line["unit"])
            row = totals.setdefault(key, {"delivery_date": key[0], "point_name": key[1], "product_name": key[2],
                                          "unit": key[3], "quantity": Decimal(0), "members": set()})
            row["quantity"] += Decimal(str(line["ordered_quantity"]))
            row["members"].add(c["producer_id"])
    return [{**row, "members": len(row["members"])} for _, row in sorted(totals.items())]


@router.post("/organizacion/solicitudes/{membership_id:int}/{answer}")
async def answer_request(web: Web, membership_id: int, answer: str):
    organization_of(web)
    if answer not in ("confirmar", "rechazar"):
        return redirect("/organizacion?error=" + quote("Responda confirmar o rechazar."), web)
    verb = "confirm" if answer == "confirmar" else "reject"
    try:
        await web.call("POST", f"/api/catalog/memberships/{membership_id}/{verb}")
    except UpstreamError as exc:
        return redirect("/organizacion?error=" + quote(exc.message), web)
    told = "Socia confirmada: ya puede vender con la organización." if verb == "confirm" else "Pedido rechazado."
    return redirect("/organizacion?aviso=" + quote(told), web)


@router.post("/organizacion/socias")
async def register_member(web: Web, name: Annotated[str, Form(max_length=200)],
                          gender: Annotated[str, Form(max_length=10)],
                          community: Annotated[str, Form(max_length=120)] = ""):
    """A member with no phone or e-mail: the organization registers her and acts for her."""
    organization_id = organization_of(web)
    if not name.strip() or gender not in GENDERS:
        return redirect("/organizacion?error=" + quote("Escriba el nombre de la socia y cómo se identifica."), web)
    try:
        organization = await web.call("GET", f"/api/catalog/organizations/{organization_id}")
        member = await web.call("POST", "/api/catalog/producers", json={
            "name": name.strip(), "gender": gender, "community": community.strip() or None,
            "municipality_code": organization["municipality_code"], "organization_id": organization_id})
    except UpstreamError as exc:
        return redirect("/organizacion?error=" + quote(exc.message), web)
    return redirect(f"/organizacion/socias/{member['id']}?aviso=" + quote(f"{member['name']} registrada."), web)


@router.get("/organizacion/socias/{producer_id:int}")
async def member(request: Request, web: Web, producer_id: int):
    organization_id = organization_of(web)
    producer = await member_of(web, organization_id, producer_id)
    notes: list[str] = []
    products, (picks, deliveries), receivables = await asyncio.gather(
        web.call("GET", "/api/catalog/products", params={"producer": producer_id, "limit": 100}),
        consignments(web, producer_id, notes),
        optional(web, "GET", f"/api/payments/producers/{producer_id}/receivables", notes, "Estado de cuenta"))
    return render(request, web, "organization/member.html", title=producer["name"], producer=producer,
                  products=[views.product_view(p) for p in views.items_of(products)], picks=picks,
                  deliveries=deliveries, receivables=(receivables or [])[:10], notes=notes,
                  idempotency_key=uuid.uuid4().hex)


def _advance_form(amount: str, consent: str) -> tuple[dict | None, str]:
    """The advance asked for a member: the amount and how she agreed, or what is wrong."""
    value = listing.decimal_of(amount)
    if value is None or value <= 0:
        return None, "Escriba el monto con números, p. ej. 150,00."
    if len(consent.strip()) < 10:
        return None, "Escriba cómo y cuándo la socia dijo que sí (p. ej. «en la reunión del lunes, ante la secretaria»)."
    return {"amount": f"{value:.2f}", "consent": consent.strip()}, ""


@router.post("/organizacion/socias/{producer_id:int}/adelanto/oferta")
async def advance_offer(request: Request, web: Web, producer_id: int, amount: Annotated[str, Form(max_length=20)],
                        idempotency_key: Annotated[str, Form(max_length=64)],
                        consent: Annotated[str, Form(max_length=500)] = ""):
    """Her advance as it would be, read before confirming; the organization asks only with her consent."""
    await member_of(web, organization_of(web), producer_id)
    here = f"/organizacion/socias/{producer_id}"
    asked, problem = _advance_form(amount, consent)
    if asked is None:
        return redirect(f"{here}?error=" + quote(problem), web)
    try:
        offer = await web.call("POST", "/api/payments/advances/offer",
                               json={"producer_id": producer_id, "amount": asked["amount"]})
    except UpstreamError as exc:
        return redirect(f"{here}?error=" + quote(exc.message), web)
    return render(request, web, "producer/advance_offer.html", title="Su adelanto", offer=offer,
                  idempotency_key=idempotency_key, confirm_action=f"{here}/adelanto", back=here,
                  consent=asked["consent"])


@router.post("/organizacion/socias/{producer_id:int}/adelanto")
async def ask_advance(web: Web, producer_id: int, amount: Annotated[str, Form(max_length=20)],
                      idempotency_key: Annotated[str, Form(max_length=64)],
                      consent: Annotated[str, Form(max_length=500)] = "",
                      policy_id: Annotated[str, Form(max_length=20)] = ""):
    await member_of(web, organization_of(web), producer_id)
    here = f"/organizacion/socias/{producer_id}"
    asked, problem = _advance_form(amount, consent)
    if asked is None:
        return redirect(f"{here}?error=" + quote(problem), web)
    body = {"producer_id": producer_id, **asked}
    if policy_id.isdigit():
        body["policy_id"] = int(policy_id)
    try:
        await web.call("POST", "/api/payments/advances", json=body, idempotency_key=idempotency_key)
    except UpstreamError as exc:
        return redirect(f"{here}?error=" + quote(exc.message), web)
    return redirect(f"{here}?aviso=" + quote("Adelanto pedido por la socia, con su consentimiento anotado."), web)


def _new_product_action(producer_id: int) -> str:
    return f"/organizacion/socias/{producer_id}/productos/nuevo"


@router.get("/organizacion/socias/{producer_id:int}/productos/nuevo")
async def new_product(request: Request, web: Web, producer_id: int):
    producer = await member_of(web, organization_of(web), producer_id)
    references = await listing.references_of(web, producer["municipality_code"])
    return listing.form_page(request, web, action=_new_product_action(producer_id), producer=producer,
                             references=references, for_member=True)


@router.post("/organizacion/socias/{producer_id:int}/productos/nuevo")
async def create_product(request: Request, web: Web, producer_id: int,
                         name: Annotated[str, Form(max_length=200)] = "",
                         category: Annotated[str, Form(max_length=40)] = "",
                         unit: Annotated[str, Form(max_length=20)] = "",
                         price: Annotated[str, Form(max_length=20)] = "",
                         available: Annotated[str, Form(max_length=20)] = "",
                         confirmed: Annotated[str, Form(max_length=1)] = "",
                         photo: Annotated[UploadFile | None, File()] = None):
    producer = await member_of(web, organization_of(web), producer_id)
    offer = listing.read_offer(name, category, unit, price, available)
    page, done = await listing.submit(request, web, action=_new_product_action(producer_id), producer=producer,
                                      offer=offer, photo=photo, confirmed=confirmed == "1", for_member=True)
    if page is not None:
        return page
    _product, message = done
    return redirect(f"/organizacion/socias/{producer_id}?aviso=" + quote(message), web)
