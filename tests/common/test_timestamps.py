"""Every stored moment comes back in UTC with its offset, on both databases."""

from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import insert, select

from services.catalog.models import kernel
from tests.conftest import transactional_database

LA_PAZ = timezone(timedelta(hours=-4))


async def test_stored_times_come_back_aware_in_utc(backend, migrated):
    outbox = kernel.outbox
    async with transactional_database(migrated.url("catalog", backend)) as db:
        async with db.session() as session:
            await session.execute(insert(outbox), [
                {"event_id": "naive", "event_type": "t", "aggregate_id": "a", "payload": {},
                 "occurred_at": datetime(2026, 11, 25, 15, 42, 40)},
                {"event_id": "la-paz", "event_type": "t", "aggregate_id": "a", "payload": {},
                 "occurred_at": datetime(2026, 11, 25, 11, 42, 40, tzinfo=LA_PAZ)},
            ])
            rows = dict((await session.execute(select(outbox.c.event_id, outbox.c.occurred_at))).all())
    assert rows["naive"] == rows["la-paz"] == datetime(2026, 11, 25, 15, 42, 40, tzinfo=UTC)
    assert {moment.utcoffset() for moment in rows.values()} == {timedelta(0)}
