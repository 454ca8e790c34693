"""What aggregate figures may tell someone who is not staff: no group of fewer than 3 producers.

A municipality (or anyone without a staff role) asking for figures by product, category or
territory could otherwise read one producer's sales, stock value or advance out of a group of one.
Every aggregate endpoint open to such callers passes its groups through `suppress_small_groups`:
the one rule, used the same way by catalog, orders, payments and the gateway's monitoring.
"""

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from services.common.auth import Principal, Role

MINIMUM_PRODUCERS = 3


def suppress_small_groups(rows: Iterable[dict], *, key: str | Callable[[dict], int],
                          minimum: int = MINIMUM_PRODUCERS, figures: Sequence[str] | None = None) -> list[dict]:
    """The rows whose group holds at least `minimum` producers (`key`: the field, or a function,
    giving the producer count). With `figures`, a smaller group's row stays (its labels are public)
    but those fields become None and it is marked `suppressed`; without, the row is left out."""
    count = (lambda row: row.get(key) or 0) if isinstance(key, str) else key
    out = []
    for row in rows:
        if count(row) >= minimum:
            out.append(row)
        elif figures is not None:
            out.append({**row, **{name: None for name in figures}, "suppressed": True})
    return out


def needs_suppression(caller: Principal | None) -> bool:
    """Figures go out whole to the gateway (service credential: None) and to staff (coordinators,
    admins); anyone else (a municipality) gets them with small groups suppressed."""
    return caller is not None and not caller.has_role(Role.coordinator)


def suppress_for(caller: Principal | None, rows: Iterable[dict], **kw: Any) -> list[dict]:
    rows = list(rows)
    return suppress_small_groups(rows, **kw) if needs_suppression(caller) else rows
