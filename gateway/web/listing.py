"""Offering a product from a phone: the form a producer fills herself (or her organization fills for
her), with the municipality's reference price and its fair band beside the price, and the photo.

A price outside the fair band is not refused: the page says how far it is from the band and asks
the producer to confirm (`confirmed`); she decides. The photo is downscaled in the browser
(static/app.js) before it travels; here it is still checked (size and kind) before anything is
saved, and the catalog checks it again. Used by the producer's pages and the organization's.
"""

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from fastapi import Request, UploadFile

from gateway.monitoring.figures import CATEGORY_LABELS, fold
from gateway.web import views
from gateway.web.session import UpstreamError, WebSession
from gateway.web.templating import render

# the units people sell in, the Bolivian ones first
UNITS = ("libra", "arroba", "quintal", "atado", "docena", "unidad", "caja", "kg", "g", "litro")
PHOTO_MAX_BYTES = 5 * 1024 * 1024  # what the catalog accepts; the browser sends far less
PHOTO_KINDS = {b"\xff\xd8\xff": "image/jpeg", b"\x89PNG\r\n\x1a\n": "image/png"}


@dataclass
class Offer:
    """What the form says, as typed (to show it again) and as read."""

    name: str = ""
    category: str = ""
    unit: str = ""
    price_text: str = ""
    available_text: str = ""
    price: Decimal | None = None
    available: Decimal = Decimal(0)
    errors: list[str] = field(default_factory=list)


def decimal_of(text: str) -> Decimal | None:
    """`12,50` or `12.50` as a Decimal; None for anything that is not a finite number."""
    try:
        value = Decimal(text.replace(",", ".").replace(" ", "").strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def read_offer(name: str, category: str, unit: str, price: str, available: str) -> Offer:
    offer = Offer(name=name.strip(), category=category, unit=unit, price_text=price.strip(),
                  available_text=available.strip())
    if not offer.name:
        offer.errors.append("Escriba el nombre del producto, p. ej. «Papa huaycha».")
    if category not in CATEGORY_LABELS:
        offer.errors.append("Elija una categoría.")
    if unit not in UNITS:
        offer.errors.append("Elija la unidad en que vende (libra, arroba, atado…).")
    offer.price = decimal_of(price)
    if offer.price is None or offer.price <= 0:
        offer.errors.append("Escriba el precio en bolivianos con números, p. ej. 12,50.")
    stock = decimal_of(available or "0")
    if stock is None or stock < 0:
        offer.errors.append("Escriba el stock con números, p. ej. 20.")
    else:
        offer.available = stock
    return offer


def reference_for(references: list[dict], name: str, category: str, unit: str) -> dict | None:
    """The municipality's reference for this product in this unit: by product name, else by category."""
    same_unit = [r for r in references if r.get("unit") == unit]
    named = [r for r in same_unit if r.get("product_name") and fold(r["product_name"]) == fold(name)]
    if named:
        return named[0]
    return next((r for r in same_unit if not r.get("product_name") and r.get("category") == category), None)


def band_warning(price: Decimal | None, reference: dict | None) -> str:
    """What the producer reads when her price is outside the fair band ("" when inside or no band)."""
    if price is None or reference is None:
        return ""
    low, high = decimal_of(reference.get("band_min") or ""), decimal_of(reference.get("band_max") or "")
    unit = reference.get("unit", "")
    if low is not None and price < low:
        return (f"Su precio ({views.bs(price)} por {unit}) está por debajo del mínimo justo del municipio "
                f"({views.bs(low)}): estaría cobrando menos de lo que su trabajo vale. ¿Lo confirma?")
    if high is not None and price > high:
        return (f"Su precio ({views.bs(price)} por {unit}) está por encima del máximo justo del municipio "
                f"({views.bs(high)}): puede que los consumidores no compren. ¿Lo confirma?")
    return ""


async def references_of(web: WebSession, municipality_code: str | None) -> list[dict]:
    """The reference prices valid today in the producer's municipality (none when it has none)."""
    if not municipality_code:
        return []
    try:
        page = await web.call("GET", "/api/catalog/reference-prices",
                              params={"municipality": municipality_code, "limit": 100})
    except UpstreamError:
        return []
    return views.items_of(page)


class PhotoRefused(ValueError):
    """A photo the page will not send on (the message is for the producer)."""


async def photo_of(upload: UploadFile | None) -> tuple[str, bytes, str] | None:
    """The uploaded photo as `(name, bytes, content type)`, or None when none was chosen."""
    if upload is None or not upload.filename:
        return None
    data = await upload.read(PHOTO_MAX_BYTES + 1)
    if not data:
        return None
    if len(data) > PHOTO_MAX_BYTES:
        raise PhotoRefused("La foto pesa más de 5 MB; tome otra o elíjala más pequeña.")
    kind = next((t for magic, t in PHOTO_KINDS.items() if data.startswith(magic)), None)
    if kind is None and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        kind = "image/webp"
    if kind is None:
        raise PhotoRefused("Ese archivo no es una foto (JPEG, PNG o WebP).")
    return upload.filename[-100:], data, kind


async def publish(web: WebSession, producer_id: int, offer: Offer,
                  photo: tuple[str, bytes, str] | None) -> tuple[dict, str]:
    """Create the product, then attach its photo. Returns the product and what to tell the producer."""
    product = await web.call("POST", "/api/catalog/products", json={
        "producer_id": producer_id, "name": offer.name, "category": offer.category, "unit": offer.unit,
        "price": f"{offer.price:.2f}", "available": f"{offer.available.normalize():f}"})
    if photo is None:
        return product, "Producto publicado."
    try:
        product = await web.call("POST", f"/api/catalog/products/{product['id']}/photo", files={"file": photo})
    except UpstreamError as exc:
        return product, f"Producto publicado, pero la foto no se pudo guardar ({exc.message}); súbala de nuevo."
    return product, "Producto publicado con su foto."


def form_page(request: Request, web: WebSession, *, action: str, producer: dict, offer: Offer | None = None,
              warning: str = "", references: list[dict] | None = None, status_code: int = 200,
              for_member: bool = False):
    offer = offer or Offer()
    return render(request, web, "producer/product_form.html", status_code=status_code,
                  title="Nuevo producto", action=action, producer=producer, offer=offer, warning=warning,
                  references=references or [], units=UNITS, categories=CATEGORY_LABELS, for_member=for_member,
                  error=" ".join(offer.errors) or request.query_params.get("error", "")[:300])


async def submit(request: Request, web: WebSession, *, action: str, producer: dict, offer: Offer,
                 photo: UploadFile | None, confirmed: bool, for_member: bool = False):
    """The form's post: shown again with what is wrong or with the band's question, else published.
    Returns `(response, None)` to show a page, or `(None, (product, message))` once published."""
    references = await references_of(web, producer.get("municipality_code"))
    page = dict(action=action, producer=producer, offer=offer, references=references, for_member=for_member)
    if offer.errors:
        return form_page(request, web, status_code=422, **page), None
    warning = band_warning(offer.price, reference_for(references, offer.name, offer.category, offer.unit))
    if warning and not confirmed:
        return form_page(request, web, warning=warning, **page), None
    try:
        picture = await photo_of(photo)
    except PhotoRefused as exc:
        offer.errors.append(str(exc))
        return form_page(request, web, status_code=422, **page), None
    try:
        return None, await publish(web, producer["id"], offer, picture)
    except UpstreamError as exc:
        offer.errors.append(exc.message)
        return form_page(request, web, status_code=exc.status if 400 <= exc.status < 500 else 503, **page), None
