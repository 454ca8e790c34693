"""The kinds of message the platform sends, who receives them, and the label people see when
they choose what to mute. A security kind cannot be muted."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    code: str
    audience: str  # consumer | producer | coordinator | financier | municipality | any
    label: str  # Spanish, as the preferences page shows it
    title: str  # the e-mail subject and the inbox heading
    security: bool = False


KINDS: dict[str, Kind] = {k.code: k for k in (
    Kind("order_placed", "consumer", "Pedido confirmado", "Pedido confirmado"),
    Kind("order_waitlisted", "consumer", "Pedido en lista de espera", "Pedido en lista de espera"),
    Kind("order_promoted", "consumer", "Pedido confirmado desde la lista de espera", "Pedido confirmado"),
    Kind("pickup_tomorrow", "consumer", "Recordatorio: recojo mañana", "Recoja su pedido mañana"),
    Kind("pickup_today", "consumer", "Recordatorio: recojo hoy", "Recoja su pedido hoy"),
    Kind("order_cancelled", "consumer", "Pedido cancelado", "Pedido cancelado"),
    Kind("pick_list_ready", "producer", "Lista de entrega del ciclo", "Qué llevar y dónde"),
    Kind("goods_received", "producer", "Entrega recibida en el punto", "Entrega recibida"),
    Kind("advance_disbursed", "producer", "Adelanto desembolsado", "Adelanto desembolsado"),
    Kind("advance_repaid", "producer", "Adelanto pagado", "Adelanto pagado"),
    Kind("refund_made", "consumer", "Devolución de dinero", "Devolución"),
    Kind("cycle_opened", "producer", "Ciclo abierto", "Ciclo abierto"),
    Kind("settlement_ready", "producer", "Liquidación lista", "Su liquidación está lista"),
    Kind("advance_approved", "producer", "Adelanto aprobado", "Adelanto aprobado"),
    Kind("cycle_closing_soon", "coordinator", "Ciclo por cerrar", "El ciclo cierra pronto"),
    Kind("point_nearly_full", "coordinator", "Punto casi lleno", "Punto de entrega casi lleno"),
    Kind("advance_requested", "financier", "Adelanto por aprobar", "Adelanto por aprobar"),
    Kind("price_below_band", "municipality organization", "Precio bajo el mínimo justo",
         "Precio bajo el mínimo justo"),
    Kind("price_above_band", "municipality", "Oferta sobre el máximo justo", "Oferta sobre el máximo justo"),
    Kind("session_revoked", "any", "Seguridad de la cuenta", "Seguridad de su cuenta", security=True),
)}


def kinds_for(role: str) -> list[Kind]:
    """The kinds an account of this role can receive (administrators: all), as its preferences list them."""
    return [k for k in KINDS.values() if role == "admin" or k.audience == "any" or role in k.audience.split()]


CHANNELS = ("whatsapp", "sms", "email")
PHONE_CHANNELS = frozenset({"whatsapp", "sms"})  # quiet hours and the daily cap apply to these
