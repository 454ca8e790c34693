"""Exact money in bolivianos (BOB): stored as integer centavos, shown as decimal strings, never floats.

Rounding rule, everywhere: to the centavo, half away from zero (ROUND_HALF_UP on magnitudes), the
"redondeo comercial" Bolivian banks print on receipts. `percent_of` and `apply_rate` use it.
"""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("100000000")  # Bs 100 millones: beyond this an amount is a typing error


def round_bs(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def to_centavos(value: Decimal | str | int) -> int:
    """Bolivianos (exact, at most two decimals) to integer centavos."""
    dec = Decimal(str(value))
    if dec != dec.quantize(CENT):
        raise ValueError("amounts have at most two decimals (centavos)")
    return int(dec * 100)


def from_centavos(centavos: int) -> Decimal:
    return (Decimal(centavos) / 100).quantize(CENT)


def percent_of(centavos: int, percent: Decimal | str) -> int:
    """`percent` % of an amount in centavos, rounded half-up to the centavo."""
    raw = Decimal(centavos) * Decimal(str(percent)) / 100
    return int(raw.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def apply_rate(centavos: int, rate: Decimal | str) -> int:
    """An amount times a rate (0.8 = 80 %), rounded half-up to the centavo."""
    raw = Decimal(centavos) * Decimal(str(rate))
    return int(raw.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def format_bs(centavos: int) -> str:
    """How people in Bolivia read an amount: `Bs 1.234,50`."""
    sign = "-" if centavos < 0 else ""
    whole, cents = divmod(abs(centavos), 100)
    grouped = f"{whole:,}".replace(",", ".")
    return f"{sign}Bs {grouped},{cents:02d}"


def _parse_amount(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise ValueError("an amount must be a decimal string such as \"12.50\"")
    if isinstance(value, float):
        value = repr(value)
    try:
        dec = Decimal(str(value).strip().replace(" ", ""))
    except (InvalidOperation, AttributeError):
        raise ValueError(f"{value!r} is not an amount; write bolivianos as \"12.50\"") from None
    if not dec.is_finite():
        raise ValueError("an amount must be a finite number")
    if abs(dec) > MAX_AMOUNT:  # first: quantizing a huge value (1e+26) overflows the decimal context
        raise ValueError(f"amount over the limit of Bs {MAX_AMOUNT}")
    if dec != dec.quantize(CENT, rounding=ROUND_HALF_UP):
        raise ValueError("amounts have at most two decimals (centavos)")
    return dec.quantize(CENT)


def _check_non_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise ValueError("amount cannot be negative")
    return value


_money_schema = WithJsonSchema({"type": "string", "pattern": r"^-?\d{1,9}(\.\d{1,2})?$", "examples": ["12.50"]})
_as_string = PlainSerializer(lambda d: f"{d:.2f}", return_type=str, when_used="json")

Amount = Annotated[Decimal, BeforeValidator(_parse_amount), _as_string, _money_schema]
"""A signed amount of bolivianos in API shapes: accepts "12.50", 12.5 or 12; answers "12.50"."""

PositiveAmount = Annotated[
    Decimal,
    BeforeValidator(lambda v: _check_non_negative(_parse_amount(v))),
    _as_string,
    WithJsonSchema({"type": "string", "pattern": r"^\d{1,9}(\.\d{1,2})?$", "examples": ["12.50"]}),
]
"""A non-negative amount of bolivianos."""
