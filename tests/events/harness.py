"""Two real services for the event tests: orders publishes, a payments subscriber records what it handled.

The subscriber is a `ServiceSpec` on payments' own kernel tables whose handler writes one row per
handled event to payments' outbox (type `probe.handled`), so the effects and their order are read
back from a real database.
"""

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator

import pytest
import uvicorn
from sqlalchemy import delete, select

from infra.ports import free_port
from services.common.app import ServiceSpec, create_service_app
from services.common.db import Database, make_engine
from services.common.events import emit
from services.orders.models import kernel as orders_kernel
from services.payments.models import kernel as payments_kernel
from tests.conftest import IN_CI, service_settings

SUBSCRIBED = ("order.placed", "order.cancelled")
NATS_URL = os.environ.get("TEST_NATS_URL", "nats://127.0.0.1:4222")
# Retries fast in tests; the production defaults are 1 s doubling up to 5 minutes.
FAST = {"relay_poll_seconds": 0.05, "relay_backoff_seconds": 0.02, "relay_backoff_max_seconds": 0.2,
        "http_timeout_seconds": 2.0}


# Events whose handler fails on its first tries: {(aggregate id, seq): failures left}.
FLAKY: dict[tuple[str, int], int] = {}


async def record_handled(session, envelope) -> None:
    key = (envelope.aggregate_id, envelope.payload["seq"])
    if FLAKY.get(key):
        FLAKY[key] -= 1
        raise RuntimeError(f"handler failing on purpose for {key}")
    await emit(session, payments_kernel, event_type="probe.handled", aggregate_id=envelope.aggregate_id,
               payload={"event_id": envelope.id, "event_type": envelope.type, "seq": envelope.payload["seq"]})


@contextlib.asynccontextmanager
async def live_kernel_database(url: str, kernel) -> AsyncIterator[Database]:
    """Like `tests.conftest.live_database` (real commits), emptying only the kernel tables afterwards:
    these tests touch nothing else, and stay independent of the services' own tables."""
    db = Database(make_engine(url, pool_size=20), owns_engine=True)
    try:
        yield db
    finally:
        async with db.session() as session:
            for table in (kernel.outbox, kernel.inbox, kernel.idempotency, kernel.incoming):
                await session.execute(delete(table))
        await db.dispose()


def publisher_app(db: Database, url: str, keys, *, subscriber_url: str = "http://127.0.0.1:9", clients=None,
                  **settings):
    spec = ServiceSpec(name="orders", title="orders (events test)", description="publisher",
                       kernel=orders_kernel, routers=[])
    app = create_service_app(spec, service_settings("orders", url, payments_url=subscriber_url,
                                                    **{**FAST, **settings}),
                             database=db, verifier=keys.verifier, clients=clients)
    app.state.event_subscribers = {t: ["payments"] for t in SUBSCRIBED}
    return app


def subscriber_app(db: Database, url: str, keys, **settings):
    spec = ServiceSpec(name="payments", title="payments (events test)", description="subscriber",
                       kernel=payments_kernel, routers=[],
                       event_handlers={t: record_handled for t in SUBSCRIBED})
    return create_service_app(spec, service_settings("payments", url, **{**FAST, **settings}),
                              database=db, verifier=keys.verifier)


async def emit_events(db: Database, events: list[tuple[str, int]], event_type: str = "order.placed", *,
                      together: bool = False) -> list[str]:
    """Commit one transaction per event (aggregate id, seq), or one for all; return the event ids."""
    ids = []
    batches = [events] if together else [[e] for e in events]
    for batch in batches:
        async with db.session() as session:
            for aggregate, seq in batch:
                envelope = await emit(session, orders_kernel, event_type=event_type, aggregate_id=aggregate,
                                      payload={"order_id": aggregate, "seq": seq})
                ids.append(envelope.id)
    return ids


async def handled(db: Database) -> list[tuple[str, int, str]]:
    """What the subscriber handled, in the order it handled it: (aggregate id, seq, event id)."""
    outbox = payments_kernel.outbox
    async with db.session() as session:
        rows = (await session.execute(select(outbox.c.aggregate_id, outbox.c.payload)
                                      .where(outbox.c.event_type == "probe.handled")
                                      .order_by(outbox.c.id))).all()
    return [(r.aggregate_id, r.payload["seq"], r.payload["event_id"]) for r in rows]


async def pending(db: Database) -> list:
    outbox = orders_kernel.outbox
    async with db.session() as session:
        return (await session.execute(select(outbox).where(outbox.c.published_at.is_(None))
                                      .order_by(outbox.c.id))).all()


def assert_in_order_per_aggregate(seen: list[tuple[str, int, str]], expected: dict[str, list[int]]) -> None:
    per_aggregate: dict[str, list[int]] = {}
    for aggregate, seq, _ in seen:
        per_aggregate.setdefault(aggregate, []).append(seq)
    assert per_aggregate == expected


async def eventually(condition, *, limit_seconds: float = 30.0, every: float = 0.05):
    """Wait until `condition()` (async) is truthy; fail with its last value after a generous limit."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_seconds
    while True:
        value = await condition()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"condition not met after {limit_seconds}s; last value: {value!r}")
        await asyncio.sleep(every)




class Server:
    """A real uvicorn server for an app, on a fixed port, that can be stopped and started again."""

    def __init__(self, app, port: int | None = None):
        self.app = app
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, lifespan="on",
                                log_level="warning", access_log=False)
        self._server = uvicorn.Server(config)
        self._server.install_signal_handlers = lambda: None
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            await self._task
            self._server = self._task = None


@contextlib.asynccontextmanager
async def serving(app, port: int | None = None) -> AsyncIterator[Server]:
    server = Server(app, port)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


# -- NATS --------------------------------------------------------------------------------------------

_nats_state: dict[str, str | None] = {}


async def nats_unreachable_reason() -> str | None:
    if "reason" not in _nats_state:
        import nats

        try:
            async def quiet(_exc):
                return None

            # max_reconnect_attempts=0 would retry the first connect forever (nats-py); bound it too.
            nc = await asyncio.wait_for(nats.connect(NATS_URL, connect_timeout=2, allow_reconnect=True,
                                                     max_reconnect_attempts=1, reconnect_time_wait=0.2,
                                                     error_cb=quiet), timeout=10)
            try:
                await nc.jetstream().account_info()
            finally:
                await nc.close()
            _nats_state["reason"] = None
        except Exception as exc:
            _nats_state["reason"] = f"NATS JetStream not reachable at {NATS_URL}: {exc!r}"
    return _nats_state["reason"]


async def require_nats() -> None:
    reason = await nats_unreachable_reason()
    if reason:
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: the NATS tests must run)")
        pytest.skip(reason)


def nats_names() -> dict[str, str]:
    """Settings for a stream and consumers of this test only, so parallel runs never collide."""
    tag = uuid.uuid4().hex[:12]
    return {"events_url": NATS_URL, "events_stream": f"MCTEST_{tag}",
            "events_subject_prefix": f"mctest.{tag}", "events_durable_prefix": f"t{tag}_"}


async def delete_stream(name: str) -> None:
    import nats

    nc = await nats.connect(NATS_URL, connect_timeout=2)
    try:
        with contextlib.suppress(Exception):
            await nc.jetstream().delete_stream(name)
    finally:
        await nc.close()
