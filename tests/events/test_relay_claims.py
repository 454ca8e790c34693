"""How the relay claims outbox rows: heads of aggregates only, skipping rows another relay holds."""

import asyncio
from datetime import timedelta

from sqlalchemy import select, update

from services.common.db import Database, make_engine
from services.common.relay import Relay
from services.common.tables import utcnow
from services.orders.models import kernel as orders_kernel
from tests.conftest import require_postgres
from tests.events.harness import emit_events, live_kernel_database


class Recorder:
    """A transport that acknowledges everything and remembers what it published."""

    name, pulls = "recorder", False

    def __init__(self):
        self.published = []

    async def publish(self, envelope):
        self.published.append((envelope.aggregate_id, envelope.payload["seq"]))


async def test_a_round_claims_only_the_oldest_pending_event_of_each_aggregate(backend, migrated):
    async with live_kernel_database(migrated.url("orders", backend), orders_kernel) as db:
        await emit_events(db, [("x", 1), ("y", 1), ("x", 2), ("x", 3), ("y", 2)], together=True)
        recorder = Recorder()
        relay = Relay(db, orders_kernel, recorder, source="orders")
        assert (await relay.run_once()).published == 2
        assert recorder.published == [("x", 1), ("y", 1)]
        await relay.drain()
        assert recorder.published == [("x", 1), ("y", 1), ("x", 2), ("y", 2), ("x", 3)]
        envelope = relay.envelope(await _first_row(db))
        assert envelope.source == "orders" and envelope.occurred_at.tzinfo is not None


async def _first_row(db):
    async with db.session() as session:
        return (await session.execute(select(orders_kernel.outbox).order_by(orders_kernel.outbox.c.id))).first()


async def test_relay_skips_rows_locked_by_another_relay_instead_of_waiting(migrated):
    """PostgreSQL: while one relay holds aggregate x's head locked, another publishes y and leaves x."""
    require_postgres()
    url = migrated.url("orders", "postgres")
    async with live_kernel_database(url, orders_kernel) as db:
        await emit_events(db, [("x", 1), ("y", 1)], together=True)
        other = Database(make_engine(url))
        try:
            async with other.session() as holder:
                outbox = orders_kernel.outbox
                await holder.execute(select(outbox.c.id).where(outbox.c.aggregate_id == "x").with_for_update())
                recorder = Recorder()
                relay = Relay(db, orders_kernel, recorder, source="orders")
                # Deadlock guard only: without SKIP LOCKED this would wait for the holder forever.
                result = await asyncio.wait_for(relay.run_once(), timeout=30)
                assert recorder.published == [("y", 1)] and result.claimed == 1
        finally:
            await other.dispose()
        await relay.drain()
        assert recorder.published == [("y", 1), ("x", 1)]


async def test_published_events_are_purged_after_the_retention_but_pending_ones_stay(backend, migrated):
    async with live_kernel_database(migrated.url("orders", backend), orders_kernel) as db:
        await emit_events(db, [("old", 1), ("new", 1), ("waiting", 1)], together=True)
        outbox = orders_kernel.outbox
        async with db.session() as session:
            await session.execute(update(outbox).where(outbox.c.aggregate_id == "old")
                                  .values(published_at=utcnow() - timedelta(days=8)))
            await session.execute(update(outbox).where(outbox.c.aggregate_id == "new")
                                  .values(published_at=utcnow() - timedelta(days=6)))
        relay = Relay(db, orders_kernel, Recorder(), source="orders", retention_days=7)
        assert await relay.purge() == 1
        async with db.session() as session:
            left = (await session.execute(select(outbox.c.aggregate_id).order_by(outbox.c.id))).scalars().all()
        assert left == ["new", "waiting"]
