"""The coordinator's "open a cycle" form read into what the orders service takes, with the mistakes
people make said in Spanish next to the field, so the form comes back with what she typed.

`read_cycle_form(form, points=..., products=...)` gives a `CycleForm`: the cycle's JSON body
(`POST /api/orders/cycles`), the agrobolsas' bodies (`POST /api/orders/cycles/{id}/baskets`) and
`errors` (field name -> message). Times are typed in Bolivian time and sent in UTC. Amounts and
quantities accept a decimal comma ("2,50"). Nothing is sent while `errors` is not empty.
"""

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation

from services.common import clock
from services.common.clock import BOLIVIA
from services.common.schedules import open_weekdays

FEE_ROWS = 3
BASKETS = 2
BASKET_LINES = 5
FEE_KINDS = {"packing": "Empaque", "transport": "Transporte", "admin": "Administración"}
FEE_BASES = {"flat": "Bs por pedido", "percent": "% del pedido", "per_item": "Bs por producto",
             "per_kg": "Bs por kg"}
FEE_PAYERS = {"consumer": "Paga quien compra", "producer": "Paga quien produce"}


@dataclass
class CycleForm:
    cycle: dict = field(default_factory=dict)
    baskets: list[dict] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


def number(text: str) -> Decimal | None:
    """A number as people type it here: "2,50", "2.50", " 3 "; None when it is not one."""
    try:
        value = Decimal(text.strip().replace(" ", "").replace(",", "."))
    except (InvalidOperation, AttributeError):
        return None
    return value if value.is_finite() else None


def _leading_id(text: str) -> int | None:
    """A product typed from the form's list ("123 · Papa (kg)") or by its number alone."""
    found = re.match(r"\s*(\d{1,15})(?!\d)", text)
    return int(found.group(1)) if found else None


def local_moment(text: str) -> datetime | None:
    """A `datetime-local` field (Bolivian time) as an aware UTC datetime."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=BOLIVIA)
    return when.astimezone(UTC)


def blank_form(points: list[dict]) -> dict[str, list[str]]:
    """What a new form shows: opens now, closes in three days at 20:00, delivers in the week after
    the close on the first day the most of `points` open (their `schedule`)."""
    now = clock.now().astimezone(BOLIVIA).replace(second=0, microsecond=0)
    closes = datetime.combine(now.date() + timedelta(days=3), time(20, 0))
    days = [closes.date() + timedelta(days=n) for n in range(1, 8)]
    serving = [sum(day.weekday() in open_weekdays(p.get("schedule") or []) for p in points) for day in days]
    delivery = days[serving.index(max(serving))]
    return {"abre": [now.strftime("%Y-%m-%dT%H:%M")], "cierra": [closes.strftime("%Y-%m-%dT%H:%M")],
            "entrega": [delivery.isoformat()], "productos": ["todos"]}


def read_cycle_form(form: dict[str, list[str]], *, points: dict[int, str], products: dict[int, str]) -> CycleForm:
    """`form` maps each field to its values (checkboxes repeat); `points` and `products` are what
    the form offered (id -> name), so a forged id is refused like a mistake."""
    out = CycleForm()
    errors = out.errors

    def one(name: str) -> str:
        return (form.get(name) or [""])[0].strip()

    name = one("nombre")
    if not name:
        errors["nombre"] = "Escriba el nombre del ciclo."
    elif len(name) > 200:
        errors["nombre"] = "El nombre es demasiado largo (200 letras como máximo)."

    opens, closes = local_moment(one("abre")), local_moment(one("cierra"))
    if opens is None:
        errors["abre"] = "Indique cuándo abre el ciclo (fecha y hora)."
    if closes is None:
        errors["cierra"] = "Indique cuándo cierra el ciclo (fecha y hora)."
    elif opens is not None and closes <= opens:
        errors["cierra"] = "El cierre tiene que ser después de la apertura."
    try:
        delivery = date.fromisoformat(one("entrega"))
    except ValueError:
        delivery = None
        errors["entrega"] = "Indique el día de entrega."
    if delivery is not None and closes is not None and delivery < closes.astimezone(BOLIVIA).date():
        errors["entrega"] = "La entrega no puede ser antes del cierre del ciclo."

    point_ids, capacity = [], {}
    for raw in form.get("punto", []):
        if raw.isdigit() and int(raw) in points and int(raw) not in point_ids:
            point_ids.append(int(raw))
    if not point_ids:
        errors["punto"] = "Elija al menos un punto de entrega."
    for point_id in point_ids:
        raw = one(f"cupo_{point_id}")
        if not raw:
            continue  # the point's own capacity
        if not raw.isdigit() or int(raw) > 100000:
            errors[f"cupo_{point_id}"] = f"El cupo de «{points[point_id]}» es un número entero de pedidos (0 o más)."
        else:
            capacity[str(point_id)] = int(raw)

    chosen_products = None
    if one("productos") == "elegidos":
        chosen_products = [int(raw) for raw in dict.fromkeys(form.get("producto", []))
                           if raw.isdigit() and int(raw) in products]
        if not chosen_products:
            errors["producto"] = "Elija al menos un producto, o marque «todos los productos»."

    fees = []
    for i in range(1, FEE_ROWS + 1):
        kind, basis, payer = one(f"tarifa_{i}_tipo"), one(f"tarifa_{i}_base"), one(f"tarifa_{i}_paga") or "consumer"
        raw = one(f"tarifa_{i}_valor")
        if not kind and not raw:
            continue
        if kind not in FEE_KINDS or basis not in FEE_BASES or payer not in FEE_PAYERS:
            errors[f"tarifa_{i}_tipo"] = f"Tarifa {i}: elija el tipo, cómo se cobra y quién la paga."
            continue
        value = number(raw)
        if value is None or value < 0:
            errors[f"tarifa_{i}_valor"] = f"Tarifa {i}: escriba un monto, por ejemplo 2,50."
        elif basis == "percent" and value > 100:
            errors[f"tarifa_{i}_valor"] = f"Tarifa {i}: un porcentaje es de 0 a 100."
        elif basis != "percent" and (value != value.quantize(Decimal("0.01")) or value > 1000000):
            errors[f"tarifa_{i}_valor"] = f"Tarifa {i}: un monto en bolivianos lleva como mucho dos decimales."
        else:
            fees.append({"kind": kind, "basis": basis, "value": format(value.normalize(), "f"), "payer": payer})

    offered = set(chosen_products) if chosen_products is not None else set(products)
    for b in range(1, BASKETS + 1):
        basket_name = one(f"bolsa_{b}_nombre")
        lines, typed = [], False
        for k in range(1, BASKET_LINES + 1):
            raw_product, raw_quantity = one(f"bolsa_{b}_producto_{k}"), one(f"bolsa_{b}_cantidad_{k}")
            if not raw_product and not raw_quantity:
                continue
            typed = True
            product_id = _leading_id(raw_product)
            quantity = number(raw_quantity)
            if product_id not in products:
                errors[f"bolsa_{b}_producto_{k}"] = f"Agrobolsa {b}, fila {k}: elija el producto."
            elif product_id not in offered:
                errors[f"bolsa_{b}_producto_{k}"] = (f"Agrobolsa {b}: «{products[product_id]}» no está entre los "
                                                     "productos del ciclo.")
            elif quantity is None or quantity <= 0:
                errors[f"bolsa_{b}_cantidad_{k}"] = f"Agrobolsa {b}, fila {k}: escriba la cantidad (más que cero)."
            else:
                lines.append({"product_id": product_id, "quantity": format(quantity.normalize(), "f")})
        if not basket_name and not typed:
            continue
        if not basket_name:
            errors[f"bolsa_{b}_nombre"] = f"Dé un nombre a la agrobolsa {b}."
        elif not typed:
            errors[f"bolsa_{b}_nombre"] = f"La agrobolsa «{basket_name}» necesita al menos un producto con su cantidad."
        out.baskets.append({"name": basket_name[:200], "description": one(f"bolsa_{b}_descripcion")[:2000],
                            "lines": lines})

    if not errors:
        out.cycle = {"name": name, "opens_at": opens.isoformat(), "closes_at": closes.isoformat(),
                     "delivery_date": delivery.isoformat(), "delivery_point_ids": point_ids,
                     "product_ids": chosen_products, "point_capacity": capacity, "fee_rules": fees,
                     "status": "draft"}
    return out
