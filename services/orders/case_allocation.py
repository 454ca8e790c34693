"""Full-case allocation for products sold by the case, following Foodsoft's rule.

Consumers order a firm quantity and may add a tolerance ("I'd take up to N more to fill a case").
Cases to order = the full cases the firm quantities cover, plus one more when the remainder plus
the total tolerance fills it. The cases are then shared first-order-first-served: every firm
quantity first (in order of placement), then the tolerances (same order). Pure functions, no I/O.
"""

from dataclasses import dataclass
from decimal import Decimal

ZERO = Decimal(0)


@dataclass(frozen=True)
class Demand:
    """One order line of a case product, in placement order."""

    key: str
    quantity: Decimal
    tolerance: Decimal = ZERO


@dataclass(frozen=True)
class Allocation:
    key: str
    quantity: Decimal  # firm quantity asked
    tolerance: Decimal
    allocated: Decimal  # what the order gets
    firm_served: Decimal
    tolerance_served: Decimal

    @property
    def cut(self) -> Decimal:
        """How much of the firm quantity the order does not get (0 when fully served)."""
        return self.quantity - self.firm_served


@dataclass(frozen=True)
class CaseResult:
    case_size: Decimal
    cases: int
    firm_total: Decimal
    tolerance_total: Decimal
    allocated_total: Decimal
    lines: list[Allocation]


def cases_to_order(*, case_size: Decimal, firm_total: Decimal, tolerance_total: Decimal) -> int:
    """Full cases covered by the firm quantities, plus one when remainder + tolerance fills it."""
    if case_size <= 0:
        raise ValueError("case size must be positive")
    full = int(firm_total // case_size)
    remainder = firm_total - full * case_size
    if remainder > 0 and remainder + tolerance_total >= case_size:
        full += 1
    return full


def allocate_cases(*, case_size: Decimal, demands: list[Demand]) -> CaseResult:
    """Cases to order and what each line gets: firm quantities first, then tolerance, in order."""
    case_size = Decimal(case_size)
    firm_total = sum((d.quantity for d in demands), ZERO)
    tolerance_total = sum((d.tolerance for d in demands), ZERO)
    cases = cases_to_order(case_size=case_size, firm_total=firm_total, tolerance_total=tolerance_total)
    left = cases * case_size
    firm_served: list[Decimal] = []
    for d in demands:
        served = min(d.quantity, left)
        firm_served.append(served)
        left -= served
    tolerance_served: list[Decimal] = []
    for d in demands:
        served = min(d.tolerance, left)
        tolerance_served.append(served)
        left -= served
    lines = [
        Allocation(key=d.key, quantity=d.quantity, tolerance=d.tolerance, allocated=f + t,
                   firm_served=f, tolerance_served=t)
        for d, f, t in zip(demands, firm_served, tolerance_served, strict=True)
    ]
    allocated_total = sum((a.allocated for a in lines), ZERO)
    return CaseResult(case_size=case_size, cases=cases, firm_total=firm_total,
                      tolerance_total=tolerance_total, allocated_total=allocated_total, lines=lines)
