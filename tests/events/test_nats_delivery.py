"""Events over NATS JetStream (EVENTS_URL=nats://...): the same guarantees as over HTTP.

Runs against the real server at TEST_NATS_URL (default nats://127.0.0.1:4222); skipped with the
reason when it is unreachable, and failing instead under CI=true. Every test gets its own stream,
subjects and consumer names, deleted afterwards, so parallel runs never collide.
"""

import asyncio
from datetime import timedelta

import nats
import orjson
import pytest
from sqlalchemy import update

from services.common.events import Envelope
from services.common.tables import utcnow
from services.common.transports import NatsTransport
from services.orders.models import kernel as orders_kernel
from services.payments.models import kernel as payments_kernel
from tests.conftest import app_client
from tests.events.harness import (
    FLAKY,
    NATS_URL,
    assert_in_order_per_aggregate,
    delete_stream,
    emit_events,
    eventually,
    free_port,
    handled,
    live_kernel_database,
    nats_names,
    pending,
    publisher_app,
    require_nats,
    subscriber_app,
)
from tests.events.test_crash_recovery import run_and_kill


@pytest.fixture
async def names():
    await require_nats()
    names = nats_names()
    yield names
    await delete_stream(names["events_stream"])


async def stream_messages(names) -> int:
    nc = await nats.connect(NATS_URL, connect_timeout=2)
    try:
        return (await nc.jetstream().stream_info(names["events_stream"])).state.messages
    finally:
        await nc.close()


async def _all_handled(db, n):
    seen = await handled(db)
    return seen if len(seen) >= n else None


async def test_event_goes_through_jetstream_once_even_when_published_twice(names, backend, migrated, keys):
    pub_url, sub_url = migrated.url("orders", backend), migrated.url("payments", backend)
    async with live_kernel_database(pub_url, orders_kernel) as pub_db, \
            live_kernel_database(sub_url, payments_kernel) as sub_db:
        publisher = publisher_app(pub_db, pub_url, keys, **names)
        subscriber = subscriber_app(sub_db, sub_url, keys, **names)
        async with app_client(publisher), app_client(subscriber):
            assert isinstance(publisher.state.event_transport, NatsTransport)
            [event_id] = await emit_events(pub_db, [("n-1", 1)])
            assert (await publisher.state.relay.drain()).published == 1
            # The relay died before marking it: the lease runs out and it publishes again.
            async with pub_db.session() as session:
                await session.execute(update(orders_kernel.outbox).values(
                    published_at=None, next_attempt_at=utcnow() - timedelta(seconds=1)))
            assert (await publisher.state.relay.drain()).published == 1
            assert await stream_messages(names) == 1  # Nats-Msg-Id: the stream dropped the repeat
            assert await subscriber.state.event_consumer.drain() == 1
            assert await handled(sub_db) == [("n-1", 1, event_id)]
            assert await pending(pub_db) == []


async def test_the_same_envelope_delivered_twice_has_one_effect(names, backend, migrated, keys):
    """Two copies in the stream (published by hand, outside the dedup window's reach): one effect."""
    sub_url = migrated.url("payments", backend)
    async with live_kernel_database(sub_url, payments_kernel) as sub_db:
        subscriber = subscriber_app(sub_db, sub_url, keys, **names)
        async with app_client(subscriber):
            envelope = Envelope(type="order.cancelled", aggregate_id="n-2", source="orders",
                                payload={"schema_version": 1, "order_id": "n-2", "seq": 1})
            sender = NatsTransport(NATS_URL, service="orders", stream=names["events_stream"],
                                   subject_prefix=names["events_subject_prefix"])
            try:
                js = await sender._jetstream()
                data = orjson.dumps(envelope.model_dump(mode="json"))
                for copy in ("first", "second"):
                    await js.publish(sender.subject(envelope), data, headers={"Nats-Msg-Id": copy})
            finally:
                await sender.close()
            assert await stream_messages(names) == 2
            assert await subscriber.state.event_consumer.drain() == 2  # both acked...
            assert await handled(sub_db) == [("n-2", 1, envelope.id)]  # ...one effect


async def test_subscriber_down_for_a_while_gets_every_event_in_order(names, backend, migrated, keys):
    pub_url, sub_url = migrated.url("orders", backend), migrated.url("payments", backend)
    async with live_kernel_database(pub_url, orders_kernel) as pub_db, \
            live_kernel_database(sub_url, payments_kernel) as sub_db:
        events = [(order, seq) for seq in range(1, 5) for order in ("j-1", "j-2", "j-3")]
        publisher = publisher_app(pub_db, pub_url, keys, relay_enabled=True, **names)
        async with app_client(publisher):
            ids = await emit_events(pub_db, events)
            await eventually(lambda: _no_backlog(pub_db))  # all in the stream; payments is not running
        assert await stream_messages(names) == len(ids)

        subscriber = subscriber_app(sub_db, sub_url, keys, relay_enabled=True, **names)
        async with app_client(subscriber):  # payments comes back: its consumer runs in the background
            seen = await eventually(lambda: _all_handled(sub_db, len(ids)))
        assert sorted(event_id for *_, event_id in seen) == sorted(ids)
        assert_in_order_per_aggregate(seen, {o: [1, 2, 3, 4] for o in ("j-1", "j-2", "j-3")})


async def _no_backlog(db):
    return await pending(db) == []


async def test_broker_down_keeps_events_in_the_outbox_until_it_is_back(names, backend, migrated, keys):
    pub_url, sub_url = migrated.url("orders", backend), migrated.url("payments", backend)
    async with live_kernel_database(pub_url, orders_kernel) as pub_db, \
            live_kernel_database(sub_url, payments_kernel) as sub_db:
        down = {**names, "events_url": f"nats://127.0.0.1:{free_port()}"}
        publisher = publisher_app(pub_db, pub_url, keys, **down)
        async with app_client(publisher):
            ids = await emit_events(pub_db, [("b-1", 1), ("b-1", 2), ("b-2", 1)])
            first = await publisher.state.relay.drain()
            assert (first.published, first.failed) == (0, 2)  # the two heads were tried
            rows = await pending(pub_db)
            assert [r.attempts for r in rows] == [1, 0, 1]
            assert all("NATS not reachable" in r.last_error for r in rows if r.attempts)
        publisher = publisher_app(pub_db, pub_url, keys, relay_enabled=True, **names)
        subscriber = subscriber_app(sub_db, sub_url, keys, relay_enabled=True, **names)
        async with app_client(publisher), app_client(subscriber):
            seen = await eventually(lambda: _all_handled(sub_db, len(ids)))
        assert_in_order_per_aggregate(seen, {"b-1": [1, 2], "b-2": [1]})


async def test_event_committed_by_a_killed_process_goes_through_jetstream_after_restart(
        names, backend, migrated, keys):
    pub_url, sub_url = migrated.url("orders", backend), migrated.url("payments", backend)
    async with live_kernel_database(pub_url, orders_kernel) as pub_db, \
            live_kernel_database(sub_url, payments_kernel) as sub_db:
        event_id = await asyncio.to_thread(run_and_kill, pub_url, "commit")
        assert [r.event_id for r in await pending(pub_db)] == [event_id]
        publisher = publisher_app(pub_db, pub_url, keys, relay_enabled=True, **names)
        subscriber = subscriber_app(sub_db, sub_url, keys, relay_enabled=True, **names)
        async with app_client(publisher), app_client(subscriber):
            seen = await eventually(lambda: _all_handled(sub_db, 1))
        assert seen == [("crash-1", 1, event_id)]


async def test_failing_handler_is_redelivered_before_anything_after_it(names, backend, migrated, keys):
    pub_url, sub_url = migrated.url("orders", backend), migrated.url("payments", backend)
    async with live_kernel_database(pub_url, orders_kernel) as pub_db, \
            live_kernel_database(sub_url, payments_kernel) as sub_db:
        FLAKY.clear()
        FLAKY[("f-1", 1)] = 2
        publisher = publisher_app(pub_db, pub_url, keys, relay_enabled=True, **names)
        subscriber = subscriber_app(sub_db, sub_url, keys, relay_enabled=True, **names)
        async with app_client(publisher), app_client(subscriber):
            ids = await emit_events(pub_db, [("f-1", 1), ("f-1", 2), ("f-2", 1), ("f-1", 3)])
            seen = await eventually(lambda: _all_handled(sub_db, len(ids)))
        assert FLAKY[("f-1", 1)] == 0
        assert_in_order_per_aggregate(seen, {"f-1": [1, 2, 3], "f-2": [1]})
