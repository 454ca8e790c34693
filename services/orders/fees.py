"""Cycle fees (packing, transport, admin), each flat, percent of value, per item or per kg.

Rules come from the cycle; `compute_fees` applies them to one order's priced lines. Amounts are
integer centavos; rounding is the kernel's (half-up to the centavo). Pure functions.
"""

from dataclasses import dataclass
from decimal import Decimal

from services.common.money import apply_rate, percent_of, to_centavos

FEE_KINDS = ("packing", "transport", "admin")
FEE_BASES = ("flat", "percent", "per_item", "per_kg")
FEE_LABELS = {"packing": "Embalaje", "transport": "Transporte", "admin": "Administración"}


@dataclass(frozen=True)
class PricedLine:
    quantity: Decimal
    line_total: int  # centavos
    kg: Decimal | None  # weight of the line, when known


def fee_amount(*, rule: dict, subtotal: int, items: int, kg: Decimal) -> int:
    """One rule's charge in centavos. `items` counts order lines; `kg` is the order's known weight."""
    basis = rule["basis"]
    value = Decimal(str(rule["value"]))
    if basis == "percent":
        return percent_of(subtotal, value)
    rate = to_centavos(value)
    if basis == "flat":
        return rate
    if basis == "per_item":
        return rate * items
    if basis == "per_kg":
        return apply_rate(rate, kg)
    raise ValueError(f"unknown fee basis {basis!r}")


def compute_fees(*, rules: list[dict], lines: list[PricedLine]) -> list[dict]:
    """Each consumer-paid rule's charge for an order: [{"kind", "basis", "value", "amount"}] (amount in
    centavos). Rules the producer pays are settled by payments from `cycle.closed`, not here."""
    rules = [r for r in rules if r.get("payer", "consumer") == "consumer"]
    subtotal = sum(line.line_total for line in lines)
    items = len(lines)
    kg = sum((line.kg for line in lines if line.kg is not None), Decimal(0))
    if not lines:
        return [{**rule, "amount": 0} for rule in rules]
    return [{"kind": rule["kind"], "basis": rule["basis"], "value": str(rule["value"]),
             "amount": fee_amount(rule=rule, subtotal=subtotal, items=items, kg=kg)} for rule in rules]


def line_kg(*, quantity: Decimal, unit: str, kg_per_unit: Decimal | None) -> Decimal | None:
    """Weight of a line: exact for weight units, through the product's kg per unit otherwise."""
    from services.common.units import Unit, kg_of

    try:
        kg = kg_of(Decimal(quantity), Unit(unit))
    except ValueError:
        kg = None
    if kg is None and kg_per_unit is not None:
        kg = Decimal(quantity) * Decimal(kg_per_unit)
    return kg
