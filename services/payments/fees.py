"""Which of a cycle's fees fall on the producer, and how much they take from a delivered consignment.

`cycle.closed` carries the cycle's `fee_rules`. Producers pay the rules charged to them (the
administrative fee and the commission on sales); rules charged to consumers (delivery, bag,
service fees) are already inside the order totals and never touch the producer's receivable.
Each fee is computed on its own and rounded half-up to the centavo; their sum never exceeds the
consignment's accepted value. docs/payments.md lists the accepted shapes.
"""

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from services.common.money import apply_rate, percent_of, to_centavos
from services.common.units import UnknownUnit, kg_of, parse_unit

CONSUMER_WORDS = ("consumer", "consumidor", "delivery", "entrega", "envio", "envío", "bag", "bolsa", "service")
KINDS = {"percent": "percent", "percentage": "percent", "commission": "percent", "flat": "flat",
         "fixed": "flat", "per_kg": "per_kg", "kg": "per_kg"}


@dataclass(frozen=True)
class FeeRule:
    name: str
    kind: str  # percent | flat | per_kg
    value: Decimal  # percent, bolivianos per consignment, or bolivianos per kg
    payer: str  # producer | consumer


def parse_fee_rules(raw: Any) -> list[FeeRule]:
    """The cycle's rules, from a list of rule objects or a mapping name -> rule or value."""
    items: list[tuple[str, Any]] = []
    if isinstance(raw, list):
        items = [(str(r.get("name") or r.get("code") or r.get("kind") or f"fee{i}") if isinstance(r, dict)
                  else f"fee{i}", r) for i, r in enumerate(raw)]
    elif isinstance(raw, dict):
        items = list(raw.items())
    rules = []
    for name, body in items:
        rule = _rule(str(name), body)
        if rule is not None:
            rules.append(rule)
    return rules


def _rule(name: str, body: Any) -> FeeRule | None:
    if isinstance(body, dict):
        kind_raw = str(body.get("kind") or body.get("type") or "").lower()
        value = next((body[k] for k in ("value", "percent", "rate", "amount", "per_kg") if k in body), None)
        if not kind_raw:
            kind_raw = "percent" if "percent" in body or "rate" in body else "per_kg" if "per_kg" in body else "flat"
        payer = str(body.get("payer") or body.get("charged_to") or body.get("applies_to") or "").lower()
        name = str(body.get("name") or body.get("code") or name)
    else:
        value = body
        lowered = name.lower()
        kind_raw = "percent" if "percent" in lowered or "pct" in lowered or "commission" in lowered else (
            "per_kg" if "kg" in lowered else "flat")
        payer = ""
    kind = KINDS.get(kind_raw)
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    if kind is None or not amount.is_finite() or amount <= 0:
        return None
    if payer not in ("producer", "consumer"):
        payer = "consumer" if any(w in name.lower() for w in CONSUMER_WORDS) else "producer"
    return FeeRule(name=name, kind=kind, value=amount, payer=payer)


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
