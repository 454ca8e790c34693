"""A service keeps up with JetStream, survives a poison event, and stays in its own installation.

Against the real NATS server (TEST_NATS_URL); every test has its own stream, subjects and consumer
names (or its own installation name), deleted afterwards, because other runs share the server.
"""

import asyncio
import uuid

import pytest
from sqlalchemy import func, select

from services.common.events import Envelope
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
    handled,
    live_kernel_database,
    nats_names,
    publisher_app,
    require_nats,
    subscriber_app,
)

AGGREGATES = 2000


@pytest.fixture
async def names():
    await require_nats()
    names = nats_names()
    yield names
    await delete_stream(names["events_stream"])


async def publish_directly(names: dict, events: list[tuple[str, int]]) -> list[str]:
    """Publish `order.placed` events as the orders relay would: one aggregate's next event only after
    the previous one is stored in the stream (here: sequence by sequence, aggregates in parallel)."""
    sender = NatsTransport(NATS_URL, service="orders", stream=names["events_stream"],
                           subject_prefix=names["events_subject_prefix"])
    limit = asyncio.Semaphore(200)
    ids: list[str] = []

    async def one(aggregate: str, seq: int) -> None:
        envelope = Envelope(type="order.placed", aggregate_id=aggregate, source="orders",
                            payload={"schema_version": 1, "order_id": aggregate, "seq": seq})
        ids.append(envelope.id)
        async with limit:
            await sender.publish(envelope)

    try:
        for seq in sorted({s for _, s in events}):
            await asyncio.gather(*(one(a, s) for a, s in events if s == seq))
    finally:
        await sender.close()
    return ids


async def inbox_count(db) -> int:
    async with db.session() as session:
        return (await session.execute(select(func.count()).select_from(payments_kernel.inbox))).scalar()


def start_consuming(app) -> None:
    """What `relay_enabled` starts in production: the puller and the incoming queue."""
    app.state.event_consumer.start()
    app.state.incoming_events.start()


async def test_twenty_thousand_events_of_two_thousand_orders_are_each_handled_once_in_order(
        names, backend, migrated, keys):
    sub_url = migrated.url("payments", backend)
    async with live_kernel_database(sub_url, payments_kernel) as sub_db:
        subscriber = subscriber_app(sub_db, sub_url, keys, **names)
        async with app_client(subscriber):
            start_consuming(subscriber)  # one consumer process, consuming while the events arrive
            events = [(f"o-{n}", seq) for seq in range(1, 11) for n in range(AGGREGATES)]
            ids = await publish_directly(names, events)

            async def all_in_inbox():
                return await inbox_count(sub_db) >= len(ids)

            await eventually(all_in_inbox, limit_seconds=120, every=0.5)
        seen = await handled(sub_db)
        assert len(seen) == len(ids) == 20_000  # each exactly once: one effect per event
        assert sorted(event_id for *_, event_id in seen) == sorted(ids)
        assert_in_order_per_aggregate(seen, {f"o-{n}": list(range(1, 11)) for n in range(AGGREGATES)})


async def test_health_and_metrics_show_the_events_waiting_for_the_service(names, backend, migrated, keys):
    sub_url = migrated.url("payments", backend)
    async with live_kernel_database(sub_url, payments_kernel) as sub_db:
        subscriber = subscriber_app(sub_db, sub_url, keys, events_lag_degraded_seconds=3600, **names)
        async with app_client(subscriber) as client:
            await publish_directly(names, [("l-1", 1), ("l-1", 2), ("l-2", 1)])
            consumer = (await client.get("/healthz")).json()["consumer"]
            assert (consumer["transport"], consumer["in_broker"], consumer["pending"]) == ("nats", 3, 3)
            assert consumer["oldest_age_seconds"] >= 0 and consumer["status"] == "ok"
            metrics = (await client.get("/metrics", headers={"X-Service-Key": subscriber.state.service_secret})).text
            assert 'events_consumer_pending{service="payments"} 3.0' in metrics
            assert 'events_consumer_oldest_age_seconds{service="payments"}' in metrics

            subscriber.state.settings.events_lag_degraded_seconds = 0  # the oldest now counts as late
            health = (await client.get("/healthz")).json()
            assert health["status"] == "degraded" and health["consumer"]["status"] == "degraded"

            assert await subscriber.state.event_consumer.drain() == 3
            consumer = (await client.get("/healthz")).json()["consumer"]
            assert (consumer["pending"], consumer["oldest_age_seconds"], consumer["status"]) == (0, None, "ok")


async def test_poison_event_is_parked_and_only_its_own_order_waits_until_it_is_retried(
        names, backend, migrated, keys):
    sub_url = migrated.url("payments", backend)
    async with live_kernel_database(sub_url, payments_kernel) as sub_db:
        FLAKY.clear()
        FLAKY[("p-0", 1)] = 10**9  # fails every time, until the fix below
        subscriber = subscriber_app(sub_db, sub_url, keys, events_max_attempts=3, **names)
        async with app_client(subscriber) as client:
            start_consuming(subscriber)
            events = [(f"p-{n}", seq) for seq in (1, 2, 3) for n in range(AGGREGATES)]
            ids = await publish_directly(names, events)

            async def others_done_and_poison_parked():
                seen = await handled(sub_db)
                health = (await client.get("/healthz")).json()
                return (seen, health) if len(seen) == len(ids) - 3 and health["consumer"]["parked"] == 1 else None

            seen, health = await eventually(others_done_and_poison_parked, limit_seconds=120, every=0.5)
            assert "p-0" not in {aggregate for aggregate, *_ in seen}
            assert_in_order_per_aggregate(seen, {f"p-{n}": [1, 2, 3] for n in range(1, AGGREGATES)})
            assert health["status"] == "degraded"
            assert health["consumer"]["pending"] == 3  # the parked event and the two behind it

            service = {"X-Service-Key": subscriber.state.service_secret, "X-Service-Name": "gateway"}
            assert (await client.get("/internal/events/parked")).status_code == 403
            [parked] = (await client.get("/internal/events/parked", headers=service)).json()["items"]
            assert (parked["aggregate_id"], parked["payload"]["seq"], parked["attempts"]) == ("p-0", 1, 3)
            assert parked["waiting_behind"] == 2
            assert "failing on purpose" in parked["last_error"]
            metrics = (await client.get("/metrics", headers={"X-Service-Key": subscriber.state.service_secret})).text
            assert 'events_parked_total{service="payments"} 1.0' in metrics
            assert 'events_parked_waiting{service="payments"} 1.0' in metrics

            FLAKY.clear()  # the fix
            retried = await client.post(f"/internal/events/parked/{parked['event_id']}/retry", headers=service)
            assert retried.status_code == 200
            seen = await eventually(lambda: _handled_at_least(sub_db, len(ids)), limit_seconds=60)
        assert_in_order_per_aggregate(seen, {f"p-{n}": [1, 2, 3] for n in range(AGGREGATES)})
        assert sorted(event_id for *_, event_id in seen) == sorted(ids)


async def _handled_at_least(db, n):
    seen = await handled(db)
    return seen if len(seen) >= n else None


async def test_two_installations_on_one_nats_server_never_see_each_others_events(backend, migrated, keys):
    await require_nats()
    pub_url, sub_url = migrated.url("orders", backend), migrated.url("payments", backend)
    installations = [f"t{uuid.uuid4().hex[:10]}" for _ in range(2)]
    try:
        async with live_kernel_database(pub_url, orders_kernel) as pub_db, \
                live_kernel_database(sub_url, payments_kernel) as sub_db:
            apps = {}
            for name in installations:
                settings = {"events_url": NATS_URL, "installation": name}
                apps[name] = (publisher_app(pub_db, pub_url, keys, **settings),
                              subscriber_app(sub_db, sub_url, keys, **settings))
            (pub_a, sub_a), (pub_b, sub_b) = apps.values()
            async with app_client(pub_a), app_client(sub_a), app_client(pub_b), app_client(sub_b):
                for name, (_, subscriber) in apps.items():
                    transport = subscriber.state.event_transport
                    assert name in transport.stream and name in transport.subject_prefix and name in transport.durable
                ids_a = await emit_events(pub_db, [("i-a", 1), ("i-a", 2)])
                assert (await pub_a.state.relay.drain()).published == 2
                assert await sub_b.state.event_consumer.drain() == 0  # B's consumer: nothing of A's
                assert await sub_a.state.event_consumer.drain() == 2
                ids_b = await emit_events(pub_db, [("i-b", 1)])
                assert (await pub_b.state.relay.drain()).published == 1
                assert await sub_a.state.event_consumer.drain() == 0
                assert await sub_b.state.event_consumer.drain() == 1
                seen = await handled(sub_db)
        assert sorted(event_id for *_, event_id in seen) == sorted(ids_a + ids_b)
    finally:
        for name in installations:
            await delete_stream(f"MERCADO_{name}")
