"""Pulls a service's incoming events from a broker (NATS JetStream) into its incoming queue.

One batch at a time: fetch, store in `incoming_events` in one transaction, acknowledge after that
commit (`NatsTransport.receive`). The queue (`services.common.incoming`) then handles the events in
order per aggregate. Stream order must become queue order, so only ONE process of a service pulls
at a time: on PostgreSQL the puller holds a session advisory lock (released when its process dies);
the other processes only handle the queue. A new puller that finds events still unacknowledged
(a puller died holding them) waits one ack-wait first, so that they are redelivered before anything
newer is fetched. SQLite installations run one process per service.
"""

import asyncio
import contextlib
import logging
import zlib

from sqlalchemy import text

from services.common.background import cancel_and_wait
from services.common.db import Database
from services.common.incoming import IncomingEvents
from services.common.transports import Transport

log = logging.getLogger("mercado.events")


class Consumer:
    """The broker side of a service's incoming events (pull transports only)."""

    def __init__(self, db: Database, transport: Transport, incoming: IncomingEvents, *, source: str,
                 batch_size: int = 500, poll_seconds: float = 1.0, retry_seconds: float = 1.0,
                 ack_wait_seconds: float = 30.0):
        self.db = db
        self.transport = transport
        self.incoming = incoming
        self.source = source
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.retry_seconds = retry_seconds
        self.ack_wait_seconds = ack_wait_seconds
        self._lock_key = zlib.crc32(f"mercado-puller-{source}".encode())
        self._task: asyncio.Task | None = None

    async def receive(self, *, wait_seconds: float | None = None) -> int:
        """One fetch into the queue; returns how many messages were acknowledged."""
        return await self.transport.receive(self.incoming.store, max_messages=self.batch_size,
                                            wait_seconds=wait_seconds or self.poll_seconds)

    async def drain(self, *, wait_seconds: float = 0.5, max_rounds: int = 10_000) -> int:
        """Pull what waits in the broker now, then handle the queue (tests, tools). Returns how many
        messages were acknowledged."""
        total = 0
        for _ in range(max_rounds):
            got = await self.receive(wait_seconds=wait_seconds)
            if not got:
                break
            total += got
        await self.incoming.drain()
        return total

    async def _pull(self) -> None:
        while True:
            try:
                await self.receive()
            except asyncio.CancelledError:
                raise
            except Exception:  # broker unreachable, store failed: the broker keeps the events
                log.exception("event consumer round failed")
                await asyncio.sleep(self.retry_seconds)

    async def _wait_for_orphans(self) -> None:
        """A puller that died left events unacknowledged: let JetStream make them due again first."""
        backlog = getattr(self.transport, "unacknowledged", None)
        if backlog is None:
            return
        with contextlib.suppress(Exception):
            if await backlog():
                log.info("events of a stopped puller wait for redelivery", extra={"seconds": self.ack_wait_seconds})
                await asyncio.sleep(self.ack_wait_seconds)

    async def run(self) -> None:
        if self.db.is_sqlite:
            await self._wait_for_orphans()
            await self._pull()
            return
        while True:
            try:
                async with self.db.engine.connect() as conn:
                    try:
                        held = (await conn.execute(text("SELECT pg_try_advisory_lock(:key)"),
                                                   {"key": self._lock_key})).scalar()
                        await conn.commit()
                        if held:
                            await self._wait_for_orphans()
                            await self._pull()  # runs until cancelled
                    finally:
                        # Closed, not returned to the pool: closing the connection releases the lock.
                        await conn.invalidate()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event puller lock failed")
            await asyncio.sleep(self.poll_seconds)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name=f"consumer-{self.source}")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
