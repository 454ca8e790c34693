"""Events over the default HTTP transport: orders publishes, payments (a real uvicorn server) handles."""

import asyncio
from datetime import timedelta

import httpx
from sqlalchemy import func, select, update

from services.common.db import Database, make_engine
from services.common.events import Envelope
from services.common.http import ServiceClient
from services.common.relay import Relay
from services.common.settings import SERVICE_NAMES
from services.common.tables import utcnow
from services.common.transports import spec_subscribers
from services.orders.models import kernel as orders_kernel
from services.payments.models import kernel as payments_kernel
from tests.conftest import app_client, transactional_database
from tests.events.harness import (
    FLAKY,
    Server,
    assert_in_order_per_aggregate,
    emit_events,
    eventually,
    handled,
    live_kernel_database,
    pending,
    publisher_app,
    serving,
    subscriber_app,
)


async def test_committed_event_reaches_the_subscriber_once(backend, migrated, keys):
    pub_url, sub_url = migrated.url("orders", backend), migrated.url("payments", backend)
    async with live_kernel_database(pub_url, orders_kernel) as pub_db, live_kernel_database(sub_url, payments_kernel) as sub_db:
        async with serving(subscriber_app(sub_db, sub_url, keys)) as sub:
            app = publisher_app(pub_db, pub_url, keys, subscriber_url=sub.url)
            async with app_client(app) as client:
                [event_id] = await emit_events(pub_db, [("101", 1)])
                assert (await client.get("/healthz")).json()["outbox"]["pending"] == 1
                result = await app.state.relay.drain()
                assert (result.published, result.failed) == (1, 0)
                assert await handled(sub_db) == [("101", 1, event_id)]
                assert await pending(pub_db) == []
                health = (await client.get("/healthz")).json()["outbox"]
                assert health == {"pending": 0, "oldest_age_seconds": None}
                metrics = (await client.get("/metrics", headers={"X-Service-Key": app.state.service_secret})).text
                assert 'events_published_total{service="orders"} 1.0' in metrics


async def test_a_busy_relay_sends_each_subscriber_its_events_in_one_request_each_applied_once(backend, migrated,
                                                                                              keys):
    pub_url, sub_url = migrated.url("orders", backend), migrated.url("payments", backend)
    async with live_kernel_database(pub_url, orders_kernel) as pub_db, live_kernel_database(sub_url, payments_kernel) as sub_db:
        subscriber = subscriber_app(sub_db, sub_url, keys)
        requests = []

        @subscriber.middleware("http")
        async def count(request, call_next):
            requests.append(request.url.path)
            return await call_next(request)

        async with serving(subscriber) as sub:
            app = publisher_app(pub_db, pub_url, keys, subscriber_url=sub.url)
            async with app_client(app):
                ids = await emit_events(pub_db, [(f"b-{n}", 1) for n in range(12)] + [("b-0", 2)], together=True)
                result = await app.state.relay.drain()
                assert (result.published, result.failed) == (13, 0)
                # the twelve heads in one request; b-0's second event after its first was kept
                assert requests == ["/internal/events/batch", "/internal/events"]
                assert sorted(e for *_, e in await handled(sub_db)) == sorted(ids)
                # a relay that died before marking them sends them again: nothing is applied twice
                async with pub_db.session() as session:
                    await session.execute(update(orders_kernel.outbox).values(
                        published_at=None, next_attempt_at=utcnow() - timedelta(seconds=1)))
                assert (await app.state.relay.drain()).published == 13
                assert sorted(e for *_, e in await handled(sub_db)) == sorted(ids)


async def test_a_batch_needs_the_service_credential_and_only_envelopes(backend, migrated, keys):
    sub_url = migrated.url("payments", backend)
    async with live_kernel_database(sub_url, payments_kernel) as sub_db:
        app = subscriber_app(sub_db, sub_url, keys)
        async with app_client(app) as client:
            good = Envelope(type="order.placed", aggregate_id="9", source="orders",
                            payload={"schema_version": 1, "order_id": "9", "seq": 1}).model_dump(mode="json")
            body = {"events": [good, {"type": "order.placed"}]}
            assert (await client.post("/internal/events/batch", json=body)).status_code == 403
            service = {"X-Service-Key": app.state.service_secret, "X-Service-Name": "orders"}
            bad = await client.post("/internal/events/batch", json=body, headers=service)
            assert bad.status_code == 422
            assert (await client.post("/internal/events/batch", json={"events": []}, headers=service)).status_code == 422
            assert await handled(sub_db) == []
            kept = await client.post("/internal/events/batch", json={"events": [good, good]}, headers=service)
            assert kept.status_code == 200 and kept.json()["received"] == 2
            assert [(a, s) for a, s, _ in await handled(sub_db)] == [("9", 1)]


async def test_internal_event_endpoint_needs_the_service_credential_and_an_envelope(backend, migrated, keys):
    sub_url = migrated.url("payments", backend)
    async with live_kernel_database(sub_url, payments_kernel) as sub_db:
        app = subscriber_app(sub_db, sub_url, keys)
        async with app_client(app) as client:
            envelope = Envelope(type="order.placed", aggregate_id="7", source="orders",
                                payload={"schema_version": 1, "order_id": "7", "seq": 1})
            body = envelope.model_dump(mode="json")
            anonymous = await client.post("/internal/events", json=body)
            assert anonymous.status_code == 403
            assert anonymous.json()["error"]["code"] == "service_only"
            wrong = await client.post("/internal/events", json=body, headers={"X-Service-Key": "guess"})
            assert wrong.status_code == 403
            as_user = await client.post("/internal/events", json=body, headers=keys.headers("admin"))
            assert as_user.status_code == 403
            assert await handled(sub_db) == []

            service = {"X-Service-Key": app.state.service_secret, "X-Service-Name": "orders"}
            missing = await client.post("/internal/events", json={"type": "order.placed"}, headers=service)
            assert missing.status_code == 422
            assert missing.json()["error"]["code"] == "validation_error"
            broken = await client.post("/internal/events", content=b"{", headers=service)
            assert broken.status_code == 422
            assert await handled(sub_db) == []

            first = await client.post("/internal/events", json=body, headers=service)
            again = await client.post("/internal/events", json=body, headers=service)
            assert first.status_code == again.status_code == 200
            assert first.json() == {"event_id": envelope.id, "handled": True}
            assert again.json() == {"event_id": envelope.id, "handled": False}
            assert await handled(sub_db) == [("7", 1, envelope.id)]


async def test_publishing_again_after_a_lost_acknowledgement_has_one_effect(backend, migrated, keys):
    """The relay died after the subscriber acked but before marking the row: it publishes again."""
    pub_url, sub_url = migrated.url("orders", backend), migrated.url("payments", backend)
    async with live_kernel_database(pub_url, orders_kernel) as pub_db, live_kernel_database(sub_url, payments_kernel) as sub_db:
        async with serving(subscriber_app(sub_db, sub_url, keys)) as sub:
            app = publisher_app(pub_db, pub_url, keys, subscriber_url=sub.url)
            async with app_client(app):
                relay = app.state.relay
                [event_id] = await emit_events(pub_db, [("202", 1)])
                assert (await relay.drain()).published == 1
                # As if that relay crashed before marking: the row is pending, its lease runs out.
                async with pub_db.session() as session:
                    await session.execute(update(orders_kernel.outbox).values(
                        published_at=None, next_attempt_at=utcnow() - timedelta(seconds=1)))
                assert (await relay.drain()).published == 1
                assert await handled(sub_db) == [("202", 1, event_id)]


async def test_subscriber_down_for_a_while_gets_every_event_in_order_per_aggregate(backend, migrated, keys):
    pub_url, sub_url = migrated.url("orders", backend), migrated.url("payments", backend)
    async with live_kernel_database(pub_url, orders_kernel) as pub_db, \
            live_kernel_database(sub_url, payments_kernel) as sub_db:
        subscriber = subscriber_app(sub_db, sub_url, keys)
        sub = Server(subscriber)
        publisher = publisher_app(pub_db, pub_url, keys, subscriber_url=sub.url, relay_enabled=True)
        async with app_client(publisher) as client:
            # Up: the first event of each order arrives.
            await sub.start()
            first = await emit_events(pub_db, [("a-1", 1), ("a-2", 1), ("a-3", 1)])
            await eventually(lambda: _all_handled(sub_db, len(first)))
            await sub.stop()

            # Down: nothing listens on its port. Three more events per order (two for a-3), interleaved.
            events = [(order, seq) for seq in range(2, 5) for order in ("a-1", "a-2", "a-3")][:-1]
            later = await emit_events(pub_db, events)

            async def heads_retried():
                rows = await pending(pub_db)
                heads = [r for r in rows if r.attempts > 0]
                return len(rows) == len(later) and len(heads) == 3 and all(
                    r.attempts >= 2 and r.last_error for r in heads)

            await eventually(heads_retried)
            rows = await pending(pub_db)
            # Only each order's oldest pending event is tried: the later ones wait behind it.
            assert sorted((r.aggregate_id, r.payload["seq"]) for r in rows if r.attempts > 0) == [
                ("a-1", 2), ("a-2", 2), ("a-3", 2)]
            health = (await client.get("/healthz")).json()["outbox"]
            assert health["pending"] == len(later) and health["oldest_age_seconds"] >= 0

            # Back on the same port: everything arrives, each order in its order.
            await sub.start()
            try:
                seen = await eventually(lambda: _all_handled(sub_db, len(first) + len(later)))
            finally:
                await sub.stop()
            assert sorted(event_id for *_, event_id in seen) == sorted(first + later)
            assert_in_order_per_aggregate(seen, {"a-1": [1, 2, 3, 4], "a-2": [1, 2, 3, 4], "a-3": [1, 2, 3]})
            assert await eventually(lambda: _no_backlog(pub_db))
            assert (await client.get("/healthz")).json()["outbox"] == {"pending": 0, "oldest_age_seconds": None}


async def _all_handled(db, n):
    seen = await handled(db)
    return seen if len(seen) >= n else None


async def _no_backlog(db):
    return await pending(db) == []


async def test_relay_wakes_up_on_commit_without_waiting_for_its_poll(backend, migrated, keys):
    pub_url, sub_url = migrated.url("orders", backend), migrated.url("payments", backend)
    async with live_kernel_database(pub_url, orders_kernel) as pub_db, live_kernel_database(sub_url, payments_kernel) as sub_db:
        async with serving(subscriber_app(sub_db, sub_url, keys)) as sub:
            publisher = publisher_app(pub_db, pub_url, keys, subscriber_url=sub.url, relay_enabled=True,
                                      relay_poll_seconds=3600)
            async with app_client(publisher):
                await asyncio.sleep(0)  # the relay's first round (nothing to do) starts its long wait
                [event_id] = await emit_events(pub_db, [("303", 1)])
                seen = await eventually(lambda: _all_handled(sub_db, 1))
                assert seen == [("303", 1, event_id)]


async def test_several_relays_on_one_outbox_keep_each_aggregate_in_order(backend, migrated, keys):
    """Three relays (three engines, as three processes would have) drain one outbox at once."""
    pub_url, sub_url = migrated.url("orders", backend), migrated.url("payments", backend)
    async with live_kernel_database(pub_url, orders_kernel) as pub_db, live_kernel_database(sub_url, payments_kernel) as sub_db:
        async with serving(subscriber_app(sub_db, sub_url, keys)) as sub:
            app = publisher_app(pub_db, pub_url, keys, subscriber_url=sub.url)
            async with app_client(app):
                transport = app.state.event_transport
                events = [(f"m-{order}", seq) for seq in range(1, 7) for order in range(5)]
                ids = await emit_events(pub_db, events)
                dbs = [Database(make_engine(pub_url)) for _ in range(3)]
                relays = [Relay(db, orders_kernel, transport, source="orders", batch_size=2) for db in dbs]
                try:
                    rounds = await asyncio.gather(*(relay.drain() for relay in relays))
                    # A relay may stop early while another holds the rest; finish what is left.
                    rounds.append(await relays[0].drain())
                finally:
                    for db in dbs:
                        await db.dispose()
                assert sum(r.published for r in rounds) == len(ids)
                seen = await handled(sub_db)
                assert len(seen) == len(ids)
                assert_in_order_per_aggregate(seen, {f"m-{o}": [1, 2, 3, 4, 5, 6] for o in range(5)})
                async with pub_db.session() as session:
                    tries = (await session.execute(select(func.max(orders_kernel.outbox.c.attempts)))).scalar()
                assert tries == 1  # no event was claimed twice


async def test_failing_handler_is_retried_and_the_aggregate_waits_for_it(backend, migrated, keys):
    pub_url, sub_url = migrated.url("orders", backend), migrated.url("payments", backend)
    async with live_kernel_database(pub_url, orders_kernel) as pub_db, \
            live_kernel_database(sub_url, payments_kernel) as sub_db:
        FLAKY.clear()
        FLAKY[("f-1", 1)] = 2
        # The subscriber keeps the failed event and retries it itself (its queue runs in the background).
        async with serving(subscriber_app(sub_db, sub_url, keys, relay_enabled=True)) as sub:
            publisher = publisher_app(pub_db, pub_url, keys, subscriber_url=sub.url, relay_enabled=True)
            async with app_client(publisher):
                ids = await emit_events(pub_db, [("f-1", 1), ("f-1", 2), ("f-2", 1), ("f-1", 3)], together=True)
                seen = await eventually(lambda: _all_handled(sub_db, len(ids)))
        assert FLAKY[("f-1", 1)] == 0
        assert_in_order_per_aggregate(seen, {"f-1": [1, 2, 3], "f-2": [1]})
        assert seen[0][:2] == ("f-2", 1)  # the other order did not wait for the failing one


def test_subscribers_are_the_services_whose_spec_handles_the_event_and_the_gateway():
    import importlib

    from gateway.app import HANDLED_EVENTS, create_app

    handled = {name: set(importlib.import_module(f"services.{name}.app").SPEC.event_handlers)
               for name in SERVICE_NAMES}
    handled["gateway"] = set(HANDLED_EVENTS)
    # what the gateway declares for the publishers is what its app really handles
    assert set(create_app(issuer=object()).state.spec.event_handlers) == handled["gateway"]
    for source in SERVICE_NAMES:
        subscribers = spec_subscribers(source)
        for event_type in set().union(*handled.values()) | {"no.such.event"}:
            expected = {n for n, types in handled.items() if n != source and event_type in types}
            assert set(subscribers(event_type)) == expected


async def test_concurrent_copies_of_one_event_have_one_effect(backend, migrated, keys):
    sub_url = migrated.url("payments", backend)
    async with live_kernel_database(sub_url, payments_kernel) as sub_db:
        app = subscriber_app(sub_db, sub_url, keys)
        async with app_client(app) as client:
            envelope = Envelope(type="order.cancelled", aggregate_id="c-1", source="orders",
                                payload={"schema_version": 1, "order_id": "c-1", "seq": 1})
            service = {"X-Service-Key": app.state.service_secret, "X-Service-Name": "orders"}
            answers = await asyncio.gather(*(client.post("/internal/events", json=envelope.model_dump(mode="json"),
                                                         headers=service) for _ in range(8)))
            assert {r.status_code for r in answers} == {200}
            assert sum(r.json()["handled"] for r in answers) == 1
            assert await handled(sub_db) == [("c-1", 1, envelope.id)]


async def test_in_process_delivery_for_service_tests(backend, migrated, keys):
    """The recipe of docs/events.md: rolled-back databases, the subscriber called in process."""
    pub_url, sub_url = migrated.url("orders", backend), migrated.url("payments", backend)
    async with transactional_database(pub_url) as pub_db, transactional_database(sub_url) as sub_db:
        subscriber = subscriber_app(sub_db, sub_url, keys)
        async with app_client(subscriber):
            clients = {"payments": ServiceClient("payments", "http://payments", secret=subscriber.state.service_secret,
                                                 caller="orders", transport=httpx.ASGITransport(subscriber))}
            publisher = publisher_app(pub_db, pub_url, keys, clients=clients)
            async with app_client(publisher):
                [event_id] = await emit_events(pub_db, [("i-1", 1)])
                assert (await publisher.state.relay.drain()).published == 1
                assert await handled(sub_db) == [("i-1", 1, event_id)]
