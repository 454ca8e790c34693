"""Reading the services' JSON into what templates show: amounts as "Bs 12,50", quantities without
trailing zeros, labels in Spanish. Tolerant of optional fields, so a page never breaks on a
missing one. Also the cart cookie, which holds only product ids and quantities.
"""

from decimal import Decimal, InvalidOperation

from gateway.monitoring.figures import CATEGORY_LABELS
from services.common.money import format_bs
from services.common.schedules import WEEKDAYS

UNIT_LABELS = {"g": "g", "kg": "kg", "libra": "libra", "arroba": "arroba", "quintal": "quintal",
               "unidad": "unidad", "docena": "docena", "atado": "atado", "caja": "caja", "litro": "litro"}
CERTIFICATION_LABELS = {"ecologico_sgp": "Ecológico SPG", "organico": "Orgánico", "comercio_justo": "Comercio justo"}
STATUS_LABELS = {
    "draft": "borrador", "open": "abierto", "closed": "cerrado", "consolidated": "consolidado",
    "delivered": "entregado", "settled": "liquidado", "pending": "pendiente", "placed": "confirmado",
    "waitlisted": "en lista de espera",
    "packed": "embolsado", "ready": "listo para recoger", "picked_up": "recogido", "no_show": "no recogido",
    "cancelled": "cancelado", "failed": "fallido", "requested": "solicitado", "approved": "aprobado",
    "disbursed": "desembolsado", "rejected": "rechazado", "repaid": "pagado", "producer_debt": "en mora",
    "collected": "cobrado", "received": "recibido", "uncollectible": "incobrable",
}
ROLE_HOME = {"consumer": "/", "producer": "/productor", "organization": "/productor", "coordinator": "/coordinacion",
             "municipality": "/municipio", "financier": "/financiador", "admin": "/admin"}


def centavos(value) -> int | None:
    """Centavos from a service amount: "12.50", {"amount": "12.50"} or an integer of centavos."""
    if value is None or value == "":
        return None
    if isinstance(value, dict):
        value = value.get("amount")
        if value is None:
            return None
    try:
        return int((Decimal(str(value)) * 100).to_integral_value())
    except InvalidOperation:
        return None


def bs(value) -> str:
    c = centavos(value)
    return "—" if c is None else format_bs(c)


def bs_cents(value: int | None) -> str:
    return "—" if value is None else format_bs(int(value))


def qty(value) -> str:
    try:
        d = Decimal(str(value))
    except (InvalidOperation, TypeError):
        return str(value or "")
    text = f"{d.normalize():f}"
    return text.replace(".", ",")




def day(value) -> str:
    """An ISO date (or datetime) as people read it here: `sábado 28/11/2026`."""
    from datetime import date, datetime

    text = str(value or "")
    try:
        d = datetime.fromisoformat(text).date() if "T" in text else date.fromisoformat(text[:10])
    except ValueError:
        return text
    return f"{WEEKDAYS[d.weekday()]} {d:%d/%m/%Y}"


def moment(value) -> str:
    """An ISO datetime as `28/11/2026 14:05`, in Bolivian time (UTC-4) when the zone is given."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value or "")
    if when.tzinfo is not None:
        when = when.astimezone(ZoneInfo("America/La_Paz"))
    return f"{when:%d/%m/%Y %H:%M}"


def category_label(code: str | None) -> str:
    return CATEGORY_LABELS.get(code or "", (code or "").replace("_", " ").capitalize())


def status_label(code: str | None) -> str:
    return STATUS_LABELS.get(code or "", code or "")


def product_view(p: dict) -> dict:
    """A catalogue product as the pages show it."""
    producer = p.get("producer") if isinstance(p.get("producer"), dict) else {}
    price = p.get("price", p.get("unit_price"))
    if price is None and p.get("price_centavos") is not None:
        price = Decimal(p["price_centavos"]) / 100
    certs = p.get("certifications") or producer.get("certifications") or []
    labels = []
    for c in certs:
        if isinstance(c, dict):
            if c.get("status", "certificado") not in ("certificado", "en_proceso"):
                continue
            label = CERTIFICATION_LABELS.get(c.get("kind", ""), c.get("kind", ""))
            labels.append(label + (" (en proceso)" if c.get("status") == "en_proceso" else ""))
        elif c:
            labels.append(CERTIFICATION_LABELS.get(str(c), str(c)))
    if not labels and p.get("certified"):
        labels.append("Certificado")
    organization = p.get("organization") if isinstance(p.get("organization"), dict) else {}
    return {
        "id": p.get("id"), "name": p.get("name", ""), "category": p.get("category"),
        "category_label": category_label(p.get("category")), "unit": p.get("unit", ""),
        "price": bs(price), "price_value": str(price) if price is not None else "",
        "available": qty(p.get("available", p.get("stock", ""))),
        "available_raw": str(p.get("available", p.get("stock", "")) or ""),
        "min_order": qty(p.get("min_order_quantity", p.get("min_order", "1")) or "1"),
        "producer": producer.get("name") or p.get("producer_name") or "",
        "producer_id": producer.get("id") or p.get("producer_id"),
        "organization": organization.get("name") or p.get("organization_name") or "",
        "municipality": producer.get("municipality_name") or p.get("municipality_name")
        or producer.get("municipality_code") or p.get("municipality_code") or "",
        "certifications": labels, "active": p.get("active", True),
        "thumbnail": p.get("thumbnail_url"),
    }


def items_of(page) -> list:
    if isinstance(page, list):
        return page
    if isinstance(page, dict):
        return page.get("items") or []
    return []


# --- the cart cookie: "7:2.5|12:1" (product id : quantity) ---

CART_COOKIE = "mc_cart"
MAX_CART_LINES = 40


def read_cart(raw: str | None) -> dict[int, Decimal]:
    cart: dict[int, Decimal] = {}
    for part in (raw or "").split("|"):
        pid, _, q = part.partition(":")
        try:
            product_id, quantity = int(pid), Decimal(q)
        except (ValueError, InvalidOperation):
            continue
        if product_id > 0 and quantity.is_finite() and 0 < quantity <= 100000:
            cart[product_id] = quantity
        if len(cart) >= MAX_CART_LINES:
            break
    return cart


def write_cart(cart: dict[int, Decimal]) -> str:
    return "|".join(f"{pid}:{q.normalize():f}" for pid, q in cart.items() if q > 0)
