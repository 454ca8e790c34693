"""Events a service received and has not handled yet: handled in order per aggregate, in batches,
with a poison event parked instead of holding everything back.

Both transports end here. HTTP delivery (`receive_pushed`) handles an event at once when nothing of
its aggregate waits, and otherwise queues it; the NATS puller stores whole fetched batches (`store`)
and acknowledges them after that commit. The queue is the `incoming_events` kernel table, in arrival
order (`id`); `IncomingEvents` works through it:

1. claim (one short transaction, serialized per service): the oldest due rows whose aggregate has
   no earlier row that is parked or waiting for a retry, at most `batch_size`; each gets a lease;
2. group them by aggregate (source service + aggregate id) and spread the aggregates over
   `concurrency` lanes handled at the same time; each lane applies its events, one aggregate's in
   order, in ONE transaction (inbox rows, handlers' effects, queue rows deleted) — so a batch costs
   a few statements, not a transaction per event. A lane that failed beside others is tried again
   alone first: if that works, the lanes only conflicted (handlers sharing rows) and the service
   keeps to one lane for a minute;
3. if the lane's transaction fails alone, its events are applied one transaction each, to keep the
   good ones and find the failing one: it gets `attempts + 1`, `last_error` and a backoff; after
   `max_attempts` it is *parked* (`parked_at`), logged as an alert and counted. Later events of its
   aggregate stay behind it (not claimable); other aggregates flow on.

An operator lists, retries or drops parked events (`services.common.dead_letters`). The inbox still
makes every effect happen once: a redelivered event finds its id there and has no second effect.
"""

import asyncio
import contextlib
import logging
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, exists, func, or_, select, text, update

from services.common.background import cancel_and_wait
from services.common.backoff import retry_delay
from services.common.db import Database
from services.common.events import Envelope
from services.common.tables import KernelTables, insert_ignoring_conflict, utcnow

log = logging.getLogger("mercado.events")
# After lanes conflicted (handlers that share rows, e.g. ledger accounts), one lane for this long.
SERIAL_AFTER_CONFLICT_SECONDS = 60.0


@dataclass
class HandleRound:
    claimed: int = 0
    handled: int = 0
    failed: int = 0
    parked: int = 0

    def __iadd__(self, other: "HandleRound") -> "HandleRound":
        self.claimed += other.claimed
        self.handled += other.handled
        self.failed += other.failed
        self.parked += other.parked
        return self


@dataclass
class Backlog:
    """Received and not handled yet (parked ones included), and how old the oldest is."""

    pending: int
    parked: int
    oldest_occurred_at: datetime | None

    def oldest_age_seconds(self, now: datetime | None = None) -> float | None:
        if self.oldest_occurred_at is None:
            return None
        return round(max(0.0, ((now or utcnow()) - aware(self.oldest_occurred_at)).total_seconds()), 3)


class Batched:
    """An event handler that can also apply several events of its type at once, with the effects of
    handling them one after another (`many`): a consumer that runs a few statements for a batch
    instead of a few per event. Called with one event, it is the plain handler."""

    def __init__(self, one: Callable, many: Callable):
        self.one = one
        self.many = many

    async def __call__(self, session, envelope: Envelope) -> None:
        await self.one(session, envelope)


def aware(moment: datetime) -> datetime:
    """SQLite gives back naive datetimes; they were written in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def envelope_of(row) -> Envelope:
    return Envelope(id=row.event_id, type=row.event_type, version=row.version, occurred_at=aware(row.occurred_at),
                    aggregate_id=row.aggregate_id, source=row.source, payload=row.payload)


class IncomingEvents:
    """The queue of one service's incoming events and the loop that handles it."""

    def __init__(self, db: Database, kernel: KernelTables, handlers: Mapping, *, service: str,
                 batch_size: int = 500, concurrency: int = 4, max_attempts: int = 5,
                 backoff_seconds: float = 1.0, backoff_max_seconds: float = 300.0,
                 lease_seconds: float = 60.0, poll_seconds: float = 1.0):
        if kernel.incoming is None:
            raise RuntimeError(f"the {service} kernel tables have no incoming_events table")
        self.db = db
        self.kernel = kernel
        self.table = kernel.incoming
        self.handlers = handlers
        self.service = service
        self.batch_size = max(1, batch_size)
        self.concurrency = max(1, concurrency)
        self.max_attempts = max(1, max_attempts)
        self.backoff_seconds = backoff_seconds
        self.backoff_max_seconds = backoff_max_seconds
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        # One number per service for PostgreSQL's advisory lock that serializes claims.
        self._lock_key = zlib.crc32(f"mercado-incoming-{service}".encode())
        self.on_round: list[Callable[[HandleRound], None]] = []
        self._serial_until = 0.0  # lanes conflicted lately: one lane until then (loop clock)
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    def handles(self, envelope: Envelope) -> bool:
        return envelope.type in self.handlers and envelope.source != self.service

    def wake(self) -> None:
        self._wake.set()

    def backoff(self, attempts: int) -> float:
        return retry_delay(attempts, base_seconds=self.backoff_seconds, max_seconds=self.backoff_max_seconds)

    def _row(self, envelope: Envelope, now: datetime, **extra) -> dict:
        return {"event_id": envelope.id, "source": envelope.source or "unknown", "event_type": envelope.type,
                "version": envelope.version, "aggregate_id": envelope.aggregate_id,
                "occurred_at": envelope.occurred_at, "payload": envelope.payload, "received_at": now, **extra}

    # -- receiving -------------------------------------------------------------------------------

    async def store(self, envelopes: Sequence[Envelope]) -> int:
        """Queue received events in one transaction (repeats of a queued event are ignored); return
        how many of them this service handles. The broker may be acknowledged once this returns."""
        now = utcnow()
        rows = [self._row(e, now) for e in envelopes if self.handles(e)]
        if rows:
            async with self.db.session() as session:
                await session.execute(insert_ignoring_conflict(session, self.table), rows)
            self.wake()
        return len(rows)

    async def receive_pushed(self, envelope: Envelope) -> bool:
        """HTTP delivery: handle the event now if nothing of its aggregate waits, else queue it behind.

        True when it had its effect now; False for a duplicate, a type not handled here, an event
        queued behind its aggregate, or a handler failure (queued for a retry). Raises only when even
        queueing failed (the database is down): the sender then retries.
        """
        if not self.handles(envelope):
            return False
        try:
            async with self.db.session() as session:
                if await self._aggregate_waits(session, envelope):
                    await session.execute(insert_ignoring_conflict(session, self.table)
                                          .values(self._row(envelope, utcnow())))
                    queued = True
                else:
                    queued = False
                    handled = await self._apply(session, [(envelope, None)])
        except Exception as exc:
            await self._queue_failed(envelope, exc)
            return False
        if queued:
            self.wake()
            return False
        self._announce(HandleRound(claimed=1, handled=handled))
        return handled == 1

    async def _aggregate_waits(self, session, envelope: Envelope) -> bool:
        t = self.table
        found = await session.execute(select(t.c.id).where(
            t.c.source == (envelope.source or "unknown"), t.c.aggregate_id == envelope.aggregate_id).limit(1))
        return found.first() is not None

    async def _queue_failed(self, envelope: Envelope, exc: Exception) -> None:
        now = utcnow()
        park = self.max_attempts <= 1
        async with self.db.session() as session:
            await session.execute(insert_ignoring_conflict(session, self.table).values(self._row(
                envelope, now, attempts=1, last_error=_describe(exc),
                next_attempt_at=None if park else now + timedelta(seconds=self.backoff(1)),
                parked_at=now if park else None)))
        self._report_failure(envelope.id, envelope.type, envelope.aggregate_id, 1, park, exc)
        self._announce(HandleRound(claimed=1, failed=1, parked=int(park)))
        self.wake()

    # -- handling --------------------------------------------------------------------------------

    async def claim(self) -> list:
        t = self.table
        earlier = t.alias("earlier")
        now = utcnow()
        blocked = exists().where(earlier.c.source == t.c.source, earlier.c.aggregate_id == t.c.aggregate_id,
                                 earlier.c.id < t.c.id,
                                 or_(earlier.c.parked_at.is_not(None), earlier.c.next_attempt_at > now))
        stmt = (select(t).where(t.c.parked_at.is_(None),
                                or_(t.c.next_attempt_at.is_(None), t.c.next_attempt_at <= now), ~blocked)
                .order_by(t.c.id).limit(self.batch_size))
        async with self.db.session() as session:
            if session.bind.dialect.name == "postgresql":
                # Claims one at a time per service: a claim must see the leases of the one before,
                # or two processes could take two events of one aggregate.
                await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": self._lock_key})
            rows = (await session.execute(stmt)).all()
            if rows:
                await session.execute(update(t).where(t.c.id.in_([r.id for r in rows]))
                                      .values(next_attempt_at=now + timedelta(seconds=self.lease_seconds)))
        return rows

    async def _apply(self, session, items: Sequence[tuple[Envelope, int | None]]) -> int:
        """Apply events in order in the session's transaction: inbox rows, handlers, queue rows gone.
        Returns how many had their effect (the others were duplicates)."""
        inbox = self.kernel.inbox
        now = utcnow()
        values = [{"event_id": e.id, "event_type": e.type, "aggregate_id": e.aggregate_id, "handled_at": now}
                  for e, _ in items]
        # executemany with RETURNING (one cached statement, whatever the batch size)
        fresh = set((await session.execute(
            insert_ignoring_conflict(session, inbox).returning(inbox.c.event_id), values)).scalars())
        handled = 0
        run: list[Envelope] = []  # consecutive events of one type: a `Batched` handler takes them at once
        for envelope, _ in items:
            if envelope.id in fresh and envelope.type in self.handlers:
                if run and run[0].type != envelope.type:
                    handled += await self._handle(session, run)
                    run = []
                run.append(envelope)
        if run:
            handled += await self._handle(session, run)
        queued = [row_id for _, row_id in items if row_id is not None]
        if queued:
            await session.execute(delete(self.table).where(self.table.c.id.in_(queued)))
        return handled

    async def _handle(self, session, run: list[Envelope]) -> int:
        """Events of one type, in order (an aggregate's events keep their order: a run only merges
        consecutive events)."""
        handler = self.handlers[run[0].type]
        if isinstance(handler, Batched) and len(run) > 1:
            await handler.many(session, run)
        else:
            for envelope in run:
                await handler(session, envelope)
        return len(run)

    async def _lane_in_one_transaction(self, aggregates: list[list]) -> HandleRound | None:
        """The lane's events in one transaction; None if it failed (rolled back as a whole)."""
        try:
            async with self.db.session() as session:
                handled = await self._apply(session, [(envelope_of(r), r.id) for rows in aggregates for r in rows])
        except Exception:
            return None
        return HandleRound(claimed=sum(len(rows) for rows in aggregates), handled=handled)

    async def _lane_one_by_one(self, aggregates: list[list]) -> HandleRound:
        """One transaction per event, to keep the good ones and find the failing one: an aggregate
        stops at its first failure (the events behind it wait)."""
        result = HandleRound(claimed=sum(len(rows) for rows in aggregates))
        for rows in aggregates:
            for position, row in enumerate(rows):
                try:
                    async with self.db.session() as session:
                        result.handled += await self._apply(session, [(envelope_of(row), row.id)])
                except Exception as exc:
                    parked = await self._record_failure(row, exc, behind=rows[position + 1:])
                    result.failed += 1
                    result.parked += parked
                    break
        return result

    async def _record_failure(self, row, exc: Exception, *, behind: Sequence) -> bool:
        attempts = row.attempts + 1
        park = attempts >= self.max_attempts
        now = utcnow()
        t = self.table
        async with self.db.session() as session:
            await session.execute(update(t).where(t.c.id == row.id).values(
                attempts=attempts, last_error=_describe(exc), parked_at=now if park else None,
                next_attempt_at=None if park else now + timedelta(seconds=self.backoff(attempts))))
            if behind:  # they wait behind the failed one; their lease is not needed any more
                await session.execute(update(t).where(t.c.id.in_([r.id for r in behind]))
                                      .values(next_attempt_at=None))
        self._report_failure(row.event_id, row.event_type, row.aggregate_id, attempts, park, exc)
        return park

    def _report_failure(self, event_id: str, event_type: str, aggregate_id: str, attempts: int, park: bool,
                        exc: Exception) -> None:
        extra = {"event_id": event_id, "event_type": event_type, "aggregate_id": aggregate_id,
                 "attempts": attempts, "error": _describe(exc)}
        if park:
            log.error("ALERT event parked: its handler failed every time; later events of its aggregate wait "
                      "until an operator retries or drops it", extra={**extra, "alert": "event_parked"})
        else:
            log.warning("event handler failed; retried later", extra=extra)

    async def run_once(self) -> HandleRound:
        rows = await self.claim()
        if not rows:
            return HandleRound()
        by_aggregate: dict[tuple[str, str], list] = {}
        for row in rows:
            by_aggregate.setdefault((row.source, row.aggregate_id), []).append(row)
        clock = asyncio.get_running_loop().time
        parallel = not self.db.is_sqlite and clock() >= self._serial_until
        lanes_count = min(self.concurrency, len(by_aggregate)) if parallel else 1
        lanes: list[list[list]] = [[] for _ in range(lanes_count)]
        for n, aggregate_rows in enumerate(by_aggregate.values()):
            lanes[n % lanes_count].append(aggregate_rows)
        total = HandleRound()
        results = await asyncio.gather(*(self._lane_in_one_transaction(lane) for lane in lanes))
        for lane, result in zip(lanes, results, strict=True):
            if result is None and lanes_count > 1:
                # Perhaps only a conflict with another lane (handlers sharing rows: a deadlock): try
                # it again alone, and keep to one lane for a while if that was it.
                result = await self._lane_in_one_transaction(lane)
                if result is not None:
                    self._serial_until = clock() + SERIAL_AFTER_CONFLICT_SECONDS
            total += result if result is not None else await self._lane_one_by_one(lane)
        self._announce(total)
        return total

    def _announce(self, result: HandleRound) -> None:
        for callback in self.on_round:
            callback(result)

    async def drain(self, *, max_rounds: int = 100_000) -> HandleRound:
        """Handle everything that can be handled now (tests, tools); return the totals."""
        total = HandleRound()
        for _ in range(max_rounds):
            result = await self.run_once()
            total += result
            if result.claimed == 0:
                break
        return total

    async def backlog(self) -> Backlog:
        t = self.table
        async with self.db.session() as session:
            pending, parked, oldest = (await session.execute(select(
                func.count(), func.count(t.c.parked_at), func.min(t.c.occurred_at)))).one()
        return Backlog(pending=pending, parked=parked, oldest_occurred_at=oldest)

    # -- background ------------------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                result = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # database down: the events wait in the queue (or the broker)
                log.exception("incoming events round failed")
                result = HandleRound()
            if result.claimed:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_seconds)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name=f"incoming-{self.service}")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None


def _describe(exc: BaseException) -> str:
    return (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)[:2000]


__all__ = ["Backlog", "HandleRound", "IncomingEvents", "aware", "envelope_of"]
