"""The outbox relay: publishes committed events, retrying until the transport acknowledges them.

Each service process runs one `Relay` in the background (`settings.relay_enabled`). A round:

1. claim (one short transaction): the pending rows that are due and are the *head* of their
   aggregate (no earlier unpublished row of the same aggregate), in id order, with
   `FOR UPDATE SKIP LOCKED` on PostgreSQL. Claiming bumps `attempts` and sets `next_attempt_at`
   to a lease, so another relay (other process or worker) does not take them meanwhile;
2. publish them through the transport, outside any transaction (one aggregate's head each, so
   they may go in parallel);
3. mark (one short transaction): `published_at` for the acknowledged ones; for the others
   `last_error` and `next_attempt_at = now + backoff` (exponential, capped).

Because only heads are claimed, an aggregate's next event is published only after the previous
one was acknowledged: order per aggregate holds with any number of relays. A relay that dies
mid-publish loses nothing: the lease expires and the event is published again (consumers dedupe).

The relay wakes right after a commit that emitted events and otherwise polls every
`relay_poll_seconds`. Tests drive it with `await app.state.relay.drain()`.
"""

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, timedelta

from sqlalchemy import delete, event, exists, or_, select, update
from sqlalchemy.orm import Session as OrmSession

from services.common.background import cancel_and_wait
from services.common.backoff import retry_delay
from services.common.consumer import Consumer
from services.common.db import Database
from services.common.event_health import install_event_metrics
from services.common.events import Envelope
from services.common.incoming import IncomingEvents
from services.common.tables import KernelTables, utcnow
from services.common.transports import PublishError, Transport, make_transport, table_subscribers

log = logging.getLogger("mercado.events")


@dataclass
class RelayRound:
    claimed: int = 0
    published: int = 0
    failed: int = 0

    def __iadd__(self, other: "RelayRound") -> "RelayRound":
        self.claimed += other.claimed
        self.published += other.published
        self.failed += other.failed
        return self


class Relay:
    def __init__(self, db: Database, kernel: KernelTables, transport: Transport, *, source: str,
                 poll_seconds: float = 1.0, batch_size: int = 100, backoff_seconds: float = 1.0,
                 backoff_max_seconds: float = 300.0, lease_seconds: float = 60.0, concurrency: int = 8,
                 retention_days: float = 7.0, purge_every_seconds: float = 3600.0):
        self.db = db
        self.kernel = kernel
        self.transport = transport
        self.source = source
        self.poll_seconds = poll_seconds
        self.batch_size = batch_size
        self.backoff_seconds = backoff_seconds
        self.backoff_max_seconds = backoff_max_seconds
        self.lease_seconds = lease_seconds
        self.retention_days = retention_days
        self.purge_every_seconds = purge_every_seconds
        self._next_purge = 0.0
        self.on_round: list = []  # callbacks(RelayRound) after each round that claimed something
        self._semaphore = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    # -- waking up -------------------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    def listen_for_commits(self) -> None:
        """Wake this relay right after any commit on its database that emitted events (a session's,
        or standalone statements')."""
        _install_commit_listener()
        _listening.add(self)
        if self.wake not in self.db.after_emit:
            self.db.after_emit.append(self.wake)

    def _owns(self, session) -> bool:
        bind = session.bind
        return getattr(bind, "engine", bind) is self.db.engine.sync_engine

    # -- one round -------------------------------------------------------------------------------

    def backoff(self, attempts: int) -> float:
        """Delay before the next try after `attempts` failed tries: exponential, capped, jittered."""
        return retry_delay(attempts, base_seconds=self.backoff_seconds, max_seconds=self.backoff_max_seconds)

    async def claim(self, *, ignore_schedule: bool = False) -> list:
        outbox = self.kernel.outbox
        earlier = outbox.alias("earlier")
        now = utcnow()
        stmt = (
            select(outbox.c.id, outbox.c.event_id, outbox.c.event_type, outbox.c.version,
                   outbox.c.aggregate_id, outbox.c.occurred_at, outbox.c.payload, outbox.c.attempts)
            .where(outbox.c.published_at.is_(None))
            .where(~exists().where(earlier.c.aggregate_id == outbox.c.aggregate_id,
                                   earlier.c.published_at.is_(None), earlier.c.id < outbox.c.id))
            .order_by(outbox.c.id)
            .limit(self.batch_size)
        )
        if not ignore_schedule:
            stmt = stmt.where(or_(outbox.c.next_attempt_at.is_(None), outbox.c.next_attempt_at <= now))
        async with self.db.session() as session:
            if session.bind.dialect.name == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True, of=outbox)
            rows = (await session.execute(stmt)).all()
            if rows:
                await session.execute(
                    update(outbox).where(outbox.c.id.in_([r.id for r in rows]))
                    .values(attempts=outbox.c.attempts + 1,
                            next_attempt_at=now + timedelta(seconds=self.lease_seconds)))
        return rows

    def envelope(self, row) -> Envelope:
        occurred_at = row.occurred_at
        if occurred_at.tzinfo is None:  # SQLite gives back naive datetimes; they were written in UTC
            occurred_at = occurred_at.replace(tzinfo=UTC)
        return Envelope(id=row.event_id, type=row.event_type, version=row.version, occurred_at=occurred_at,
                        aggregate_id=row.aggregate_id, source=self.source, payload=row.payload)

    async def _publish(self, row) -> str | None:
        """Publish one row; None when acknowledged, else why not."""
        async with self._semaphore:
            try:
                await self.transport.publish(self.envelope(row))
                return None
            except PublishError as exc:
                return str(exc) or type(exc).__name__
            except Exception as exc:  # a transport bug must not stop the relay; keep and retry
                log.exception("event publish crashed", extra={"event_id": row.event_id})
                return repr(exc)

    async def _publish_batch(self, publish_batch, rows) -> list[str | None]:
        try:
            return await publish_batch([self.envelope(row) for row in rows])
        except Exception as exc:  # a transport bug must not stop the relay; keep and retry
            log.exception("event batch publish crashed", extra={"events": len(rows)})
            return [repr(exc)] * len(rows)

    async def run_once(self, *, ignore_schedule: bool = False) -> RelayRound:
        rows = await self.claim(ignore_schedule=ignore_schedule)
        if not rows:
            return RelayRound()
        publish_batch = getattr(self.transport, "publish_batch", None)
        if publish_batch is not None and len(rows) > 1:
            errors = await self._publish_batch(publish_batch, rows)
        else:
            errors = await asyncio.gather(*(self._publish(row) for row in rows))
        outbox = self.kernel.outbox
        now = utcnow()
        done = [row.id for row, error in zip(rows, errors, strict=True) if error is None]
        async with self.db.session() as session:
            if done:
                await session.execute(update(outbox).where(outbox.c.id.in_(done)).values(published_at=now))
            for row, error in zip(rows, errors, strict=True):
                if error is None:
                    continue
                attempts = row.attempts + 1
                delay = self.backoff(attempts)
                log.warning("event not acknowledged; retrying later",
                            extra={"event_id": row.event_id, "event_type": row.event_type,
                                   "attempts": attempts, "retry_in_seconds": round(delay, 3), "error": error})
                await session.execute(
                    update(outbox).where(outbox.c.id == row.id, outbox.c.published_at.is_(None))
                    .values(last_error=error[:2000], next_attempt_at=now + timedelta(seconds=delay)))
        result = RelayRound(claimed=len(rows), published=len(done), failed=len(rows) - len(done))
        for callback in self.on_round:
            callback(result)
        return result

    async def drain(self, *, retry_failed: bool = False, max_rounds: int = 1000) -> RelayRound:
        """Run rounds until nothing more can be published now; return the totals.

        `retry_failed=True` ignores the backoff schedule (and leases): every pending head is tried
        now. Meant for tests and for an operator's "retry now"; the background loop never does it.
        """
        total = RelayRound()
        for _ in range(max_rounds):
            result = await self.run_once(ignore_schedule=retry_failed)
            total += result
            if result.published == 0:
                break
        return total

    async def purge(self) -> int:
        """Delete events published more than `retention_days` ago (0 keeps them forever).

        Only published rows go: pending ones stay until acknowledged. (Inbox rows are kept: a
        subscriber that was down for long may still be sent an event others handled long ago.)
        """
        if self.retention_days <= 0:
            return 0
        outbox = self.kernel.outbox
        cutoff = utcnow() - timedelta(days=self.retention_days)
        async with self.db.session() as session:
            result = await session.execute(delete(outbox).where(outbox.c.published_at.is_not(None),
                                                                outbox.c.published_at < cutoff))
        return result.rowcount or 0

    # -- background ------------------------------------------------------------------------------

    async def _maybe_purge(self) -> None:
        now = asyncio.get_running_loop().time()
        if now >= self._next_purge:
            self._next_purge = now + self.purge_every_seconds
            removed = await self.purge()
            if removed:
                log.info("published events purged", extra={"removed": removed, "days": self.retention_days})

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self._maybe_purge()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox purge failed")
            try:
                result = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # database down, etc.: keep going, the outbox keeps the events
                log.exception("event relay round failed")
                result = RelayRound()
            if result.published:
                continue  # successors of what was just published may be ready now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name=f"relay-{self.source}")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        _listening.discard(self)
        if self.wake in self.db.after_emit:
            self.db.after_emit.remove(self.wake)


_listening: "weakref.WeakSet[Relay]" = weakref.WeakSet()
_listener_installed = False


def _install_commit_listener() -> None:
    """One process-wide listener: after a commit that emitted events (`session.info["events_emitted"]`,
    set by `events.emit`), wake the relays of that session's database."""
    global _listener_installed
    if _listener_installed:
        return

    def after_commit(session) -> None:
        if session.info.pop("events_emitted", False):
            for relay in list(_listening):
                if relay._owns(session):
                    relay.wake()

    def after_soft_rollback(session, _transaction) -> None:
        if not session.in_transaction():
            session.info.pop("events_emitted", None)

    event.listen(OrmSession, "after_commit", after_commit)
    event.listen(OrmSession, "after_soft_rollback", after_soft_rollback)
    _listener_installed = True


async def start_event_machinery(app, spec, settings) -> None:
    """Build the transport, the relay, the incoming queue and (for pull transports) the consumer that
    fills it; run them in the background when `settings.relay_enabled`. `app.state.event_subscribers`
    (a mapping `{event_type: [service, ...]}`), when set before start, replaces the discovery from
    the specs."""
    state = app.state
    subscribers = getattr(state, "event_subscribers", None)
    if isinstance(subscribers, Mapping):
        subscribers = table_subscribers(subscribers)
    transport = make_transport(settings, service=spec.name, clients=state.clients, subscribers=subscribers,
                               subscribed=spec.event_handlers)
    relay = Relay(state.db, spec.kernel, transport, source=spec.name, poll_seconds=settings.relay_poll_seconds,
                  batch_size=settings.relay_batch_size, backoff_seconds=settings.relay_backoff_seconds,
                  backoff_max_seconds=settings.relay_backoff_max_seconds,
                  lease_seconds=settings.relay_lease_seconds, retention_days=settings.relay_retention_days)
    incoming = consumer = None
    if spec.event_handlers and spec.kernel.incoming is not None:
        incoming = IncomingEvents(state.db, spec.kernel, spec.event_handlers, service=spec.name,
                                  batch_size=settings.events_batch_size, concurrency=settings.events_concurrency,
                                  max_attempts=settings.events_max_attempts,
                                  backoff_seconds=settings.relay_backoff_seconds,
                                  backoff_max_seconds=settings.relay_backoff_max_seconds,
                                  lease_seconds=settings.relay_lease_seconds, poll_seconds=settings.relay_poll_seconds)
        if transport.pulls:
            consumer = Consumer(state.db, transport, incoming, source=spec.name,
                                batch_size=settings.events_batch_size, poll_seconds=settings.relay_poll_seconds,
                                retry_seconds=settings.relay_backoff_seconds,
                                ack_wait_seconds=settings.events_ack_wait_seconds)
    state.event_transport = transport
    state.relay = relay
    state.incoming_events = incoming
    state.event_consumer = consumer
    install_event_metrics(state, spec.name)
    if settings.relay_enabled:
        relay.listen_for_commits()
        relay.start()
        if incoming is not None:
            incoming.start()
        if consumer is not None:
            consumer.start()


async def stop_event_machinery(app) -> None:
    state = app.state
    for name in ("event_consumer", "incoming_events", "relay"):
        task_owner = getattr(state, name, None)
        if task_owner is not None:
            await task_owner.stop()
    transport = getattr(state, "event_transport", None)
    if transport is not None:
        try:
            await asyncio.wait_for(transport.close(), timeout=10)
        except (TimeoutError, Exception) as exc:  # shutting down: report, don't hang or raise
            log.warning("event transport did not close cleanly", extra={"error": repr(exc)})
