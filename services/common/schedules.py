"""Opening schedules of delivery points, read the same way everywhere.

A schedule is a list of windows `{"weekday": 0..6 (lunes = 0), "opens": "08:00", "closes": "13:00"}`.
Delivery owns the points and their schedules; orders checks a cycle's delivery day against them,
the demo loader checks its world, the pages explain them. The rule: a point serves a day when it
has a window on that day's weekday.
"""

from collections.abc import Iterable
from datetime import date, timedelta

WEEKDAYS = ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo")


def open_weekdays(schedule: Iterable[dict]) -> list[int]:
    """The weekdays a schedule has a window on, lunes first."""
    return sorted({int(w["weekday"]) for w in schedule if isinstance(w, dict) and w.get("weekday") in range(7)})


def serves_on(schedule: Iterable[dict], day: date) -> bool:
    return day.weekday() in open_weekdays(schedule)


def days_text(names: list[str]) -> str:
    """`["jueves", "domingo"]` -> "jueves y domingo"; none -> "ningún día"."""
    if not names:
        return "ningún día"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " y " + names[-1]


def closed_on(points: Iterable[dict], day: date) -> list[dict]:
    """The points (dicts with `id`, `name`, `schedule`) that do not open on `day`, each as
    `{"id", "name", "open_days": ["jueves", ...]}`."""
    return [{"id": p["id"], "name": p.get("name", ""),
             "open_days": [WEEKDAYS[d] for d in open_weekdays(p.get("schedule") or [])]}
            for p in points if not serves_on(p.get("schedule") or [], day)]


def first_day_all_serve(schedules: list[list[dict]], *, start: date, step: int = 1, limit: int = 7) -> date | None:
    """The first day from `start` (moving `step` days at a time: -1 looks back) on which every
    schedule opens; None when no such day comes within `limit` steps."""
    day = start
    for _ in range(limit):
        if all(serves_on(s, day) for s in schedules):
            return day
        day += timedelta(days=step)
    return None
