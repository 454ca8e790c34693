"""Moments in time, always in UTC and always with their offset: one column type and one API type.

Every stored time is UTC. PostgreSQL keeps the zone (`timestamptz`); SQLite keeps a bare string and
hands it back naive. `UtcDateTime` is the column type of every table: it writes UTC (a naive value
is taken to be UTC already) and always reads back an aware UTC datetime, on both databases. It is a
`DateTime(timezone=True)` underneath, so migrations see no difference. `UtcTimestamp` is the same
promise for request and response shapes: a datetime that always carries its offset (`+00:00` when
it came without one).
"""

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator
from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator


def as_utc(value: datetime | None) -> datetime | None:
    """`value` in UTC with its offset; a naive value is taken to be UTC already."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class UtcDateTime(TypeDecorator):
    """A `DateTime(timezone=True)` column that stores UTC and always gives back aware UTC datetimes."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return as_utc(value) if isinstance(value, datetime) else value

    def process_result_value(self, value, dialect):
        return as_utc(value) if isinstance(value, datetime) else value

    @property
    def python_type(self) -> type:
        return datetime


UtcTimestamp = Annotated[datetime, AfterValidator(as_utc)]
"""A datetime in a request or response shape: always aware, in UTC."""
