"""The Spanish texts. Each fits in one SMS (160 characters) when the names are of usual length;
`sms_text` shortens a longer one (a long pick list) for WhatsApp and SMS, while the inbox and the
e-mail keep it whole. Amounts in Bs as people read them (`Bs 1.234,50`), days as `sáb 28/11`."""

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from gateway.notifications.directory import PointInfo
from gateway.notifications.schedule import local
from services.common.money import format_bs, to_centavos

SMS_LIMIT = 160
INBOX_LIMIT = 500
SHORT_WEEKDAYS = ("lun", "mar", "mié", "jue", "vie", "sáb", "dom")


def bs(amount) -> str:
    """`Bs 12,50` from a decimal string of bolivianos (the events' amounts)."""
    try:
        return format_bs(to_centavos(Decimal(str(amount))))
    except (InvalidOperation, ValueError, TypeError):
        return f"Bs {amount}"


def short_day(day: date | None) -> str:
    return f"{SHORT_WEEKDAYS[day.weekday()]} {day:%d/%m}" if day else ""


def quantity(value, unit: str) -> str:
    try:
        text = f"{Decimal(str(value)).normalize():f}".replace(".", ",")
    except (InvalidOperation, ValueError):
        text = str(value)
    return f"{text} {unit}".strip()


def fit(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip(" ,;:") + "…"


def sms_text(text: str) -> str:
    return fit(text, SMS_LIMIT)


def _when(point: PointInfo, day: date | None) -> str:
    """`sáb 28/11 de 08:00 a 13:00`, or what is known of it ('' when nothing)."""
    return " ".join(p for p in (short_day(day), point.hours_on(day)) if p)


def _pickup(point: PointInfo, day: date | None) -> str:
    """`el sáb 28/11 de 08:00 a 13:00 en Mercado Camacho`."""
    when = _when(point, day)
    return f"el {when} en {point.name}" if when else f"en {point.name}"


def order_placed(*, order_id, total, point: PointInfo, day: date | None, code: str | None) -> str:
    code_part = f" Código: {code}." if code else ""
    return fit(f"Pedido #{order_id} confirmado: {bs(total)}. Recójalo {_pickup(point, day)}.{code_part}",
               INBOX_LIMIT)


def order_waitlisted(*, order_id, point: PointInfo, position) -> str:
    where = f"puesto {position}" if position else "en espera"
    return fit(f"Pedido #{order_id}: {point.name} está lleno. Está en lista de espera ({where}); le avisamos "
               f"si se libera un cupo.", INBOX_LIMIT)


def order_promoted(*, order_id, point: PointInfo, day: date | None, code: str | None, moved: bool = False) -> str:
    code_part = f" Código: {code}." if code else ""
    opening = f"Su pedido #{order_id} pasó a {point.name} y está confirmado." if moved else \
        f"Se liberó un cupo: su pedido #{order_id} está confirmado."
    where = _pickup(point, day) if not moved else (f"el {_when(point, day)}" if _when(point, day) else "allí")
    return fit(f"{opening} Recójalo {where}.{code_part}", INBOX_LIMIT)


def pickup_reminder(*, order_id, point: PointInfo, day: date, today: bool) -> str:
    hours = point.hours_on(day)
    when = "Hoy" if today else f"Mañana {short_day(day)}"
    return fit(f"{when} recoja su pedido #{order_id} en {point.name}{', ' + hours if hours else ''}. "
               f"Lleve su código de recojo.", INBOX_LIMIT)


def order_cancelled(*, order_id, total) -> str:
    return fit(f"Su pedido #{order_id} ({bs(total)}) fue cancelado. Si ya lo pagó, ese monto queda como saldo a "
               f"favor para su próximo pedido.", INBOX_LIMIT)


def waiting_order_cancelled(*, order_id, point: PointInfo, cycle_closed: bool) -> str:
    if cycle_closed:
        return fit(f"Su pedido #{order_id} en lista de espera se canceló: el ciclo cerró sin que se libere un "
                   f"cupo en {point.name}. No se le cobra nada.", INBOX_LIMIT)
    return fit(f"Su pedido #{order_id} en lista de espera fue cancelado. No se le cobra nada.", INBOX_LIMIT)


def pick_list(*, cycle_name: str, day: date | None, stops: list[tuple[PointInfo, list[str]]]) -> str:
    """`stops`: each point with what to bring there (`10 kg papa`)."""
    parts = [" ".join(p for p in (f"a {point.name}", _when(point, day)) if p) + ": " + ", ".join(items)
             for point, items in stops]
    return fit(f"Ciclo {cycle_name}, lleve " + "; ".join(parts) + ".", INBOX_LIMIT)


def goods_received(*, point: PointInfo, accepted_value, rejected: list[str]) -> str:
    text = f"Recibimos su entrega en {point.name}: aceptado {bs(accepted_value)}."
    if rejected:
        text += " Rechazado: " + "; ".join(rejected) + "."
    return fit(text, INBOX_LIMIT)


def advance_disbursed(*, principal, fee) -> str:
    return fit(f"Su adelanto (pronto pago) de {bs(principal)} fue desembolsado. Comisión: {bs(fee)}; se "
               f"descuenta de su liquidación.", INBOX_LIMIT)


def advance_repaid(*, principal_repaid, fee_repaid, outstanding) -> str:
    return fit(f"Se cobró su adelanto: {bs(principal_repaid)} más comisión {bs(fee_repaid)}. Saldo pendiente: "
               f"{bs(outstanding)}.", INBOX_LIMIT)


METHOD_NAMES = {"cash": "efectivo", "qr": "QR", "transfer": "transferencia", "credito": "saldo a favor"}


def _moment(at: datetime | None) -> str:
    """`vie 27/11 a las 18:00`, Bolivian time ('' when unknown)."""
    if at is None:
        return ""
    there = local(at)
    return f"{short_day(there.date())} a las {there:%H:%M}"


def refund_made(*, order_id, amount, method: str | None) -> str:
    how = f" ({METHOD_NAMES[method]})" if method in METHOD_NAMES else ""
    source = f"de su pedido #{order_id}" if order_id else "de su saldo a favor"
    return fit(f"Le devolvimos {bs(amount)} {source}{how}.", INBOX_LIMIT)


def cycle_opened(*, cycle_name: str, closes_at: datetime | None, day: date | None) -> str:
    until = f": pedidos hasta el {_moment(closes_at)}" if closes_at else ""
    delivery = f", entrega el {short_day(day)}" if day else ""
    return fit(f"Abrió el ciclo {cycle_name}{until}{delivery}. Revise su oferta y su stock en Mercado Corto.",
               INBOX_LIMIT)


def cycle_closing_soon(*, cycle_name: str, closes_at: datetime | None, placed, waitlisted) -> str:
    when = f" el {_moment(closes_at)}" if closes_at else " pronto"
    waiting = f", {waitlisted} en lista de espera" if waitlisted else ""
    return fit(f"El ciclo {cycle_name} cierra{when}: {placed} pedidos confirmados{waiting}.", INBOX_LIMIT)


def point_nearly_full(*, cycle_name: str, point: PointInfo, booked, capacity) -> str:
    return fit(f"{point.name} tiene {booked} de {capacity} cupos ocupados en el ciclo {cycle_name}. Puede subir "
               f"su capacidad o sumar otro punto.", INBOX_LIMIT)


def settlement_ready(*, cycle_name: str, net_payable=None) -> str:
    if net_payable is not None:
        return fit(f"Su liquidación del ciclo {cycle_name} está lista: cobra {bs(net_payable)}. Vea el detalle en "
                   f"Mercado Corto.", INBOX_LIMIT)
    return fit(f"Su liquidación del ciclo {cycle_name} está lista: vea sus ventas, comisiones y lo que cobra en "
               f"Mercado Corto.", INBOX_LIMIT)


def advance_requested(*, advance_id, producer_id, principal, fee) -> str:
    return fit(f"El adelanto #{advance_id} de la productora #{producer_id} espera su aprobación: {bs(principal)}, "
               f"comisión {bs(fee)}.", INBOX_LIMIT)


def advance_approved(*, principal, fee) -> str:
    return fit(f"Su adelanto (pronto pago) de {bs(principal)} fue aprobado (comisión {bs(fee)}). Le avisamos "
               f"cuando se desembolse.", INBOX_LIMIT)


def session_revoked() -> str:
    return ("Cerramos su sesión en todos sus equipos porque alguien reusó un acceso ya gastado. Ingrese de "
            "nuevo y, si no fue usted, cambie su contraseña.")


def price_below_band(*, product: str, unit: str, price: int, band_min: int, order_id, to_organization: bool) -> str:
    """A sale below the fair band's minimum; amounts in centavos."""
    who = "Un socio vendió" if to_organization else "Se vendió"
    return fit(f"{who} {product} a {format_bs(price)} por {unit} en el pedido #{order_id}, bajo el mínimo justo "
               f"de {format_bs(band_min)} que fijó el municipio.", INBOX_LIMIT)


def price_above_band(*, product: str, unit: str, price: int, band_max: int) -> str:
    return fit(f"{product} se ofrece hasta {format_bs(price)} por {unit}, sobre el máximo justo de "
               f"{format_bs(band_max)} que fijó el municipio.", INBOX_LIMIT)
