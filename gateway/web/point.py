"""Pages of the people at a delivery point (accounts the cycle's coordinator assigned to a point, and
the coordinator herself): today's pickups with a form to check a pickup code, and receiving a
producer's goods line by line, with a reason for what is rejected.

Who may do what stays in the delivery service (services/delivery/access.py): these pages only call
its API as the logged-in account and say its refusals in Spanish.
"""

import asyncio
import base64
import re
from decimal import Decimal
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Path, Request, Response, UploadFile
from starlette.datastructures import UploadFile as StarletteUpload

from gateway.web import pickup_qr, views
from gateway.web.csrf import refuse_cross_site_posts
from gateway.web.session import POINT_COOKIE, UpstreamError, WebSession, optional, web_session
from gateway.web.shop import redirect
from gateway.web.templating import render
from services.common.errors import DomainError
from services.common.images import PhotoTooLarge, as_jpeg, open_photo

router = APIRouter(include_in_schema=False, dependencies=[Depends(refuse_cross_site_posts)])
Web = Annotated[WebSession, Depends(web_session)]

ORDER_ID = re.compile(r"^(?!\.+$)[A-Za-z0-9_.:-]{1,64}$")  # the service's order ids; never "." or ".."
ConsignmentId = Annotated[int, Path(ge=1, le=2**53)]

# the reasons a line is rejected: the service keeps a free text, the page sends the Spanish label
# (and the note), which is what the producer reads
REJECT_REASONS = {
    "damaged": "Dañado o golpeado",
    "not_fresh": "No está fresco",
    "pests": "Plagas o insectos",
    "wrong_product": "Producto equivocado",
    "short_weight": "Falta peso",
    "cold_chain": "Cadena de frío rota",
    "packaging": "Empaque en mal estado",
}
MAX_NOTE = 200
RECENT_CYCLES = 5  # the page is for today: the goods to receive of the newest cycles she works in

MESSAGES = {
    "wrong_pickup_code": "El código no coincide con el pedido #{order_id}; le quedan {attempts_left} intentos.",
    "too_many_attempts": "Demasiados códigos equivocados para el pedido #{order_id}: espere {minutes} minutos "
                         "o pida a otra persona del punto que lo revise.",
    "already_picked_up": "El pedido #{order_id} ya fue recogido.",
    "booking_not_confirmed": "El pedido #{order_id} no está listo para recoger.",
    "booking_not_found": "No hay un pedido #{order_id} para recoger.",
    "wrong_point": "El pedido #{order_id} se recoge en otro punto.",
    "not_point_staff": "Su cuenta no atiende ese punto en ese ciclo; pida a la coordinación que la asigne.",
    "consignment_already_received": "Esta entrega ya fue recibida; solo la coordinación puede corregirla.",
    "received_exceeds_ordered": "Recibió más de lo pedido: como máximo {max_received_quantity} {unit}; "
                                "el resto vuelve con el productor.",
    "rejected_exceeds_received": "Lo rechazado no puede ser más de lo que llegó.",
    "reject_reason_required": "Elija el motivo de cada rechazo.",
    "not_your_consignment": "Su cuenta no recibe en ese punto; pida a la coordinación que la asigne.",
    "consignment_not_found": "No existe esa entrega.",
}


def said(exc: UpstreamError, **context) -> str:
    """The service's refusal as the people at the point read it."""
    template = MESSAGES.get(exc.code)
    if template is None:
        return exc.message
    values = {**context, **(exc.details or {})}
    try:
        values.setdefault("minutes", max(1, int(values.get("retry_after_seconds", 60)) // 60))
        return template.format(**values)
    except (KeyError, IndexError, TypeError, ValueError):
        return exc.message


def on_duty(duties: list[dict], item: dict) -> bool:
    return any(d["cycle_id"] == item["cycle_id"] and d["point_id"] == item.get("delivery_point_id", item.get(
        "point_id")) for d in duties)


# --- today's pickups ---

@router.get("/punto")
async def point_home(request: Request, web: Web):
    principal = web.require()
    notes: list[str] = []
    duties = await optional(web, "GET", "/api/delivery/staff/me", notes, "Sus puntos") or []
    pickups = await optional(web, "GET", "/api/delivery/pickups", notes, "Recojos", params={"limit": 200}) or []
    recent = sorted({d["cycle_id"] for d in duties} | {p["cycle_id"] for p in pickups}, reverse=True)[:RECENT_CYCLES]
    pages = await asyncio.gather(*(optional(web, "GET", "/api/delivery/consignments", notes, "Entregas de productores",
                                             params={"cycle_id": c, "limit": 100}) for c in recent))
    pending = [c for page in pages for c in views.items_of(page) if c.get("status") == "pending"]
    if not principal.has_role("coordinator"):  # a producer on duty also reads her own: keep the point's
        pending = [c for c in pending if on_duty(duties, c)]
    groups: dict[tuple, dict] = {}
    for p in pickups:
        group = groups.setdefault((p["cycle_id"], p["point_id"]), {
            "cycle_id": p["cycle_id"], "point_id": p["point_id"], "point_name": p["point_name"],
            "delivery_date": p.get("delivery_date"), "waiting": [], "done": []})
        group["waiting" if p["status"] == "confirmed" else "done"].append(p)
    if duties or groups or pending:
        web.set_cookies[POINT_COOKIE] = ("1", 30 * 24 * 3600)
    return render(request, web, "point/home.html", title="Hoy en mi punto", groups=list(groups.values()),
                  consignments=pending, duties=duties, notes=notes)


async def hand_over(web: WebSession, order_id: str, point_id: int, code: str):
    """Confirm one pickup with its code; back to today's page saying what happened."""
    try:
        await web.call("POST", f"/api/delivery/orders/{order_id}/pickup",
                       json={"pickup_code": code, "point_id": point_id})
    except UpstreamError as exc:
        return redirect("/punto?error=" + quote(said(exc, order_id=order_id)), web)
    return redirect("/punto?aviso=" + quote(f"Pedido #{order_id} entregado."), web)


@router.post("/punto/recojo")
async def point_pickup(web: Web, order_id: Annotated[str, Form(max_length=64)],
                       point_id: Annotated[int, Form(ge=1, le=2**53)], pickup_code: Annotated[str, Form(max_length=32)] = ""):
    web.require()
    code = pickup_code.strip().upper()
    if not ORDER_ID.match(order_id) or not code:
        return redirect("/punto?error=" + quote("Escriba el código que muestra la persona que recoge."), web)
    return await hand_over(web, order_id, point_id, code)


@router.post("/punto/recojo/qr")
async def point_pickup_qr(web: Web, point_id: Annotated[int, Form(ge=1, le=2**53)],
                          foto: Annotated[UploadFile | None, File()] = None):
    """A photo of the consumer's QR (phones without BarcodeDetector): decoded here, then the same
    pickup as typing the code."""
    web.require()
    data = await foto.read(pickup_qr.MAX_BYTES + 1) if foto is not None else b""
    try:
        scanned = await asyncio.to_thread(pickup_qr.decode_photo, data)
    except pickup_qr.UnreadableQR as exc:
        return redirect("/punto?error=" + quote(str(exc)), web)
    return await hand_over(web, scanned.order_id, point_id, scanned.code)


@router.post("/punto/no-recogidos")
async def point_no_shows(web: Web, cycle_id: Annotated[int, Form(ge=1, le=2**53)]):
    """End of the day: the point's orders not picked up within their window become no-shows."""
    web.require()
    try:
        marked = await web.call("POST", f"/api/delivery/cycles/{cycle_id}/no-shows")
    except UpstreamError as exc:
        return redirect("/punto?error=" + quote(said(exc)), web)
    count = len(marked.get("no_shows") or [])
    text = f"Pedidos marcados como no recogidos: {count}." if count else \
        "Ningún pedido quedó sin recoger fuera de su horario."
    return redirect("/punto?aviso=" + quote(text), web)


# --- receiving a producer's goods ---

async def read_consignment(web: WebSession, consignment_id: int) -> dict:
    try:
        return await web.call("GET", f"/api/delivery/consignments/{consignment_id}")
    except UpstreamError as exc:
        raise UpstreamError(said(exc), code=exc.code, status=exc.status, details=exc.details) from None


@router.get("/punto/entregas/{consignment_id}")
async def point_consignment(request: Request, web: Web, consignment_id: ConsignmentId):
    web.require()
    consignment = await read_consignment(web, consignment_id)
    return render(request, web, "point/receive.html", title=f"Recibir de {consignment['producer_name']}",
                  consignment=consignment, reasons=REJECT_REASONS, max_note=MAX_NOTE)


QUANTITY = re.compile(r"^[0-9]{1,7}([.,][0-9]{1,3})?$")  # what the delivery service takes: up to 3 decimals


def _quantity(raw: str) -> Decimal | None:
    text = (raw or "").strip() or "0"
    return Decimal(text.replace(",", ".")) if QUANTITY.match(text) else None


def receipt_lines(form, lines: list[dict]) -> list[dict] | str:
    """The receive request from the form, or what to fix (in Spanish)."""
    out = []
    for line in lines:
        pid = line["product_id"]
        received = _quantity(str(form.get(f"recibido_{pid}", "")))
        rejected = _quantity(str(form.get(f"rechazado_{pid}", "")))
        if received is None or rejected is None:
            return f"«{line['product_name']}»: escriba las cantidades con números, p. ej. 2,5 (hasta 3 decimales)."
        if received > Decimal(str(line["ordered_quantity"])):
            return f"«{line['product_name']}»: no reciba más de lo pedido ({views.qty(line['ordered_quantity'])})."
        if rejected > received:
            return f"«{line['product_name']}»: lo rechazado no puede ser más de lo que llegó."
        entry = {"product_id": pid, "received_quantity": f"{received.normalize():f}",
                 "rejected_quantity": f"{rejected.normalize():f}"}
        if rejected > 0:
            label = REJECT_REASONS.get(str(form.get(f"motivo_{pid}", "")))
            if label is None:
                return f"«{line['product_name']}»: elija el motivo del rechazo."
            note = " ".join(str(form.get(f"nota_{pid}", "")).split())[:MAX_NOTE]
            entry["reject_reason"] = f"{label}: {note}" if note else label
        out.append(entry)
    return out


PHOTO_MAX_BYTES = 8 * 1024 * 1024  # a phone's photo as taken; it travels on downscaled
PHOTO_SIDE = 1280


async def photo_for_receipt(data: bytes) -> str:
    """The photo of the goods, downscaled here so the call to the delivery service stays small, in
    base64; ValueError saying what is wrong with it (Spanish)."""
    def shrink() -> bytes:
        image, _ = open_photo(data, max_bytes=PHOTO_MAX_BYTES)
        return as_jpeg(image, max_side=PHOTO_SIDE)

    try:
        return base64.b64encode(await asyncio.to_thread(shrink)).decode()
    except PhotoTooLarge:
        raise ValueError("La foto es demasiado grande (máximo 8 MB).") from None
    except DomainError:
        raise ValueError("La foto no se pudo leer: use una foto JPEG, PNG o WebP.") from None


@router.get("/punto/entregas/{consignment_id}/foto")
async def point_consignment_photo(web: Web, consignment_id: ConsignmentId):
    """The photo taken at receiving, for those the delivery service lets read the consignment."""
    web.require()
    response = await web.call("GET", f"/api/delivery/consignments/{consignment_id}/photo", raw=True)
    if response.status_code != 200 or response.headers.get("content-type") != "image/jpeg":
        return Response(status_code=404 if response.status_code in (403, 404) else 503)
    return Response(response.content, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


@router.post("/punto/entregas/{consignment_id}/recibir")
async def point_receive(request: Request, web: Web, consignment_id: ConsignmentId):
    web.require()
    consignment = await read_consignment(web, consignment_id)
    back = f"/punto/entregas/{consignment_id}"
    form = await request.form()
    lines = receipt_lines(form, consignment["lines"])
    if isinstance(lines, str):
        return redirect(back + "?error=" + quote(lines), web)
    body: dict = {"lines": lines}
    upload = form.get("foto")
    if isinstance(upload, StarletteUpload) and upload.filename:
        try:
            body["photo"] = await photo_for_receipt(await upload.read(PHOTO_MAX_BYTES + 1))
        except ValueError as exc:
            return redirect(back + "?error=" + quote(str(exc)), web)
    try:
        await web.call("POST", f"/api/delivery/consignments/{consignment_id}/receive", json=body)
    except UpstreamError as exc:
        return redirect(back + "?error=" + quote(said(exc)), web)
    return redirect(back + "?aviso=" + quote("Entrega recibida."), web)
