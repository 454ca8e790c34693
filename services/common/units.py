"""Bolivian units of sale and their exact conversion to a base unit.

In Bolivia the libra is 460 g, so 25 libras make an arroba (11.5 kg) and 100 libras a quintal
(46 kg). Counted goods convert to `unidad` (a docena is 12). An atado (bunch) and a caja (box) are
their own base: they are sold and counted as such, and a product's case size says what a box holds.
"""

from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema


class Unit(StrEnum):
    g = "g"
    kg = "kg"
    libra = "libra"
    arroba = "arroba"
    quintal = "quintal"
    unidad = "unidad"
    docena = "docena"
    atado = "atado"
    caja = "caja"
    litro = "litro"


# unit -> (base unit, how many base units one of it is)
CONVERSIONS: dict[Unit, tuple[Unit, Decimal]] = {
    Unit.g: (Unit.kg, Decimal("0.001")),
    Unit.kg: (Unit.kg, Decimal("1")),
    Unit.libra: (Unit.kg, Decimal("0.46")),
    Unit.arroba: (Unit.kg, Decimal("11.5")),
    Unit.quintal: (Unit.kg, Decimal("46")),
    Unit.unidad: (Unit.unidad, Decimal("1")),
    Unit.docena: (Unit.unidad, Decimal("12")),
    Unit.atado: (Unit.atado, Decimal("1")),
    Unit.caja: (Unit.caja, Decimal("1")),
    Unit.litro: (Unit.litro, Decimal("1")),
}

VALID_UNITS = [u.value for u in Unit]

_ALIASES = {"kilo": "kg", "kilos": "kg", "kilogramo": "kg", "kilogramos": "kg", "gramo": "g",
            "gramos": "g", "libras": "libra", "lb": "libra", "arrobas": "arroba", "@": "arroba",
            "quintales": "quintal", "qq": "quintal", "unidades": "unidad", "u": "unidad",
            "docenas": "docena", "atados": "atado", "cajas": "caja", "litros": "litro", "l": "litro"}


class UnknownUnit(ValueError):
    def __init__(self, value: Any):
        super().__init__(f"unknown unit {value!r}; valid units: {', '.join(VALID_UNITS)}")


def parse_unit(value: Any) -> Unit:
    if isinstance(value, Unit):
        return value
    text = str(value).strip().lower()
    text = _ALIASES.get(text, text)
    try:
        return Unit(text)
    except ValueError:
        raise UnknownUnit(value) from None


def base_unit(unit: Unit) -> Unit:
    return CONVERSIONS[unit][0]


def to_base(quantity: Decimal, unit: Unit) -> Decimal:
    """Exact quantity in the unit's base unit: 2 arrobas -> 23.0 kg."""
    return quantity * CONVERSIONS[unit][1]


def convert(quantity: Decimal, from_unit: Unit, to_unit: Unit) -> Decimal:
    """Exact conversion between two units of the same base; ValueError across bases."""
    base_from, factor_from = CONVERSIONS[from_unit]
    base_to, factor_to = CONVERSIONS[to_unit]
    if base_from != base_to:
        raise ValueError(f"cannot convert {from_unit} to {to_unit}")
    return quantity * factor_from / factor_to


def kg_of(quantity: Decimal, unit: Unit) -> Decimal | None:
    """Weight in kg when the unit is a weight, else None (used for per-kg fees and vehicle loads)."""
    base, factor = CONVERSIONS[unit]
    return quantity * factor if base == Unit.kg else None


MAX_QUANTITY = Decimal("1000000")
THOUSANDTH = Decimal("0.001")


def quantity_text(value) -> str:
    """A quantity as the API writes it: "3", "2.5", "0.125" (to the thousandth; None reads "0").

    String work rather than Decimal.normalize: consolidation calls it once per order line."""
    if value is None:
        return "0"
    dec = value if isinstance(value, Decimal) else Decimal(str(value))
    if dec.as_tuple().exponent < -3:
        dec = dec.quantize(THOUSANDTH)
    text = format(dec, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


def parse_quantity(value: Any) -> Decimal:
    """A positive decimal quantity with at most 3 decimals ("1.5", 2, "0.250")."""
    if isinstance(value, bool):
        raise ValueError("a quantity must be a number such as \"1.5\"")
    if isinstance(value, float):
        value = repr(value)
    try:
        dec = Decimal(str(value).strip())
    except (InvalidOperation, AttributeError):
        raise ValueError(f"{value!r} is not a quantity") from None
    if not dec.is_finite():
        raise ValueError("a quantity must be a finite number")
    if dec.as_tuple().exponent < -3 and dec != dec.quantize(Decimal("0.001")):
        raise ValueError("quantities have at most three decimals")
    if dec < 0:
        raise ValueError("a quantity cannot be negative")
    if dec > MAX_QUANTITY:
        raise ValueError(f"quantity over the limit of {MAX_QUANTITY}")
    return dec.normalize() if dec == dec.to_integral() else dec


UnitField = Annotated[
    Unit,
    BeforeValidator(parse_unit),
    WithJsonSchema({"type": "string", "enum": VALID_UNITS}),
]
Quantity = Annotated[
    Decimal,
    BeforeValidator(parse_quantity),
    PlainSerializer(lambda d: format(d.normalize(), "f") if d == d.to_integral() else format(d, "f"),
                    return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": r"^\d{1,7}(\.\d{1,3})?$", "examples": ["1.5"]}),
]
"""A non-negative quantity in API shapes: accepts "1.5" or 1.5, answers "1.5"."""
