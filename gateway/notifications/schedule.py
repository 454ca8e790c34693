"""Bolivian time for messages: quiet hours for WhatsApp and SMS, reminder times, the day of the cap.

No WhatsApp or SMS between 21:00 and 07:00 in Bolivia (America/La_Paz, UTC-4 all year); a
pickup-day reminder may go from 06:00. E-mail and the inbox have no quiet hours.
"""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from gateway.notifications.kinds import PHONE_CHANNELS

BOLIVIA = ZoneInfo("America/La_Paz")
QUIET_FROM = time(21, 0)
QUIET_UNTIL = time(7, 0)
PICKUP_DAY_FROM = time(6, 0)
REMINDER_EVE_AT = time(18, 0)  # the day before pickup


def local(moment: datetime) -> datetime:
    if moment.tzinfo is None:  # SQLite gives naive datetimes back; they were written in UTC
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(BOLIVIA)


def at_bolivian(day: date, clock: time) -> datetime:
    """`day` at `clock` Bolivian time, as an aware UTC datetime."""
    return datetime.combine(day, clock, tzinfo=BOLIVIA).astimezone(UTC)


def bolivian_day_bounds(moment: datetime) -> tuple[datetime, datetime]:
    """Start and end (UTC) of the Bolivian day that contains `moment`."""
    day = local(moment).date()
    return at_bolivian(day, time(0)), at_bolivian(day + timedelta(days=1), time(0))


def earliest_send(channel: str, moment: datetime, *, pickup_day: bool = False) -> datetime:
    """The first moment at or after `moment` when `channel` may carry a message."""
    if channel not in PHONE_CHANNELS:
        return moment
    here = local(moment)
    opens = PICKUP_DAY_FROM if pickup_day else QUIET_UNTIL
    if here.time() >= QUIET_FROM:
        return at_bolivian(here.date() + timedelta(days=1), opens)
    if here.time() < opens:
        return at_bolivian(here.date(), opens)
    return moment
