"""The platform's clock: what time it is now, and which day is "today" in Bolivia.

Every process asks it (`services.common.tables.utcnow` is this `now`). `MC_TODAY=YYYY-MM-DD` moves
the clock to that day in Bolivia while the time of day keeps running, so the demo world, the
services and the pages can be tried, and tested, as on any weekday. Only for demos and tests:
tokens keep the real time (their signatures are checked against it).
"""

import os
from datetime import UTC, date, datetime, timedelta, timezone
from functools import lru_cache

BOLIVIA = timezone(timedelta(hours=-4), "BOT")  # no daylight saving time in Bolivia
TODAY_VARIABLE = "MC_TODAY"


@lru_cache(maxsize=8)
def _day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{TODAY_VARIABLE} must be a date like 2026-11-28, not {text!r}") from None


def _shift(real: datetime) -> timedelta:
    given = os.environ.get(TODAY_VARIABLE)
    if not given:
        return timedelta(0)
    return timedelta(days=(_day(given) - real.astimezone(BOLIVIA).date()).days)


def now() -> datetime:
    """The current moment (UTC, aware), on the day `MC_TODAY` names when it is set."""
    real = datetime.now(UTC)
    return real + _shift(real)


def today() -> date:
    """Today's date in Bolivia (UTC-4), `MC_TODAY` when it is set."""
    return now().astimezone(BOLIVIA).date()
