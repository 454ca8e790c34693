"""Which of a cycle's fees fall on the producer, and how much they take from a delivered consignment.

`cycle.closed` carries the cycle's `fee_rules` as orders stores them: `[{"kind": "packing" |
"transport" | "admin", "basis": "flat" | "percent" | "per_item" | "per_kg", "value": "2.50",
"payer": "consumer" | "producer"}]`. Orders charges the consumer-paid rules on each order; the
rules whose payer is the producer (typically the `admin` commission on sales) are taken here from
the consignment's accepted value: percent of it, Bs per kg accepted, Bs per consignment line, or Bs
per consignment. A rule without `payer` is the consumer's, as in orders. Each fee is rounded
half-up to the centavo on its own; their sum never exceeds the accepted value.
"""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from services.common.money import apply_rate, percent_of, to_centavos
from services.common.units import UnknownUnit, kg_of, parse_unit

KINDS = {"percent": "percent", "percentage": "percent", "flat": "flat", "fixed": "flat", "per_kg": "per_kg",
         "per_item": "per_item"}


@dataclass(frozen=True)
class FeeRule:
    name: str
    kind: str  # percent | flat | per_item | per_kg
    value: Decimal  # percent, or bolivianos per consignment, per line or per kg
    payer: str  # producer | consumer


def parse_fee_rules(raw: Any) -> list[FeeRule]:
    """The cycle's rules, from a list of rule objects or a mapping name -> rule."""
    items: list[tuple[str, Any]] = []
    if isinstance(raw, list):
        items = [(str(r.get("name") or r.get("kind") or f"fee{i}") if isinstance(r, dict) else f"fee{i}", r)
                 for i, r in enumerate(raw)]
    elif isinstance(raw, dict):
        items = list(raw.items())
    rules = []
    for name, body in items:
        rule = _rule(str(name), body)
        if rule is not None:
            rules.append(rule)
    return rules


def _rule(name: str, body: Any) -> FeeRule | None:
    if not isinstance(body, dict):
        return None
    basis = str(body.get("basis") or "").lower()
    label = str(body.get("kind") or name).lower()
    if not basis:  # {"kind": "percent", ...} without a separate basis
        basis, label = label, str(body.get("name") or name).lower()
    kind = KINDS.get(basis)
    try:
        value = Decimal(str(body.get("value")))
    except (InvalidOperation, ValueError):
        return None
    if kind is None or not value.is_finite() or value <= 0:
        return None
    payer = "producer" if str(body.get("payer") or "").lower() == "producer" else "consumer"
    return FeeRule(name=label, kind=kind, value=value, payer=payer)


def producer_fees(*, rules: list[FeeRule], accepted_value: int, lines: list[dict]) -> list[dict]:
    """The fee lines charged to the producer on a consignment of `accepted_value` centavos."""
    out = []
    remaining = accepted_value
    for rule in rules:
        if rule.payer != "producer" or remaining <= 0:
            continue
        if rule.kind == "percent":
            amount, base = percent_of(accepted_value, rule.value), accepted_value
        elif rule.kind == "flat":
            amount, base = _centavos(rule.value), None
        elif rule.kind == "per_item":
            amount, base = _centavos(rule.value) * len(lines), len(lines)
        else:
            kg = _accepted_kg(lines)
            amount, base = apply_rate(_centavos(rule.value), kg), str(kg)
        amount = min(amount, remaining)
        if amount <= 0:
            continue
        remaining -= amount
        out.append({"name": rule.name, "kind": rule.kind, "rate": str(rule.value), "base": base, "amount": amount})
    return out


def _centavos(bolivianos: Decimal) -> int:
    try:
        return to_centavos(bolivianos)
    except ValueError:
        return int((bolivianos * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _accepted_kg(lines: list[dict]) -> Decimal:
    total = Decimal(0)
    for line in lines:
        try:
            kg = kg_of(Decimal(str(line.get("received_quantity") or 0)) - Decimal(str(line.get("rejected_quantity") or 0)),
                       parse_unit(line.get("unit") or "unidad"))
        except (UnknownUnit, InvalidOperation, ValueError):
            kg = None
        if kg is not None and kg > 0:
            total += kg
    return total
