"""Over HTTP delivery too, a poison event is parked, its aggregate waits, and an admin retries or
drops it through the gateway; the relay of the sender is never held back by it."""

import asyncio

import httpx

from services.common.dead_letters import main as dead_letters_command
from services.orders.models import kernel as orders_kernel
from services.payments.models import kernel as payments_kernel
from tests.conftest import app_client
from tests.events.harness import (
    FLAKY,
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
from tests.gateway.conftest import running_gateway

ALWAYS = 10**9


async def test_poison_event_over_http_is_parked_and_an_admin_retries_or_drops_it(backend, migrated, keys,
                                                                                 monkeypatch, capsys):
    pub_url, sub_url = migrated.url("orders", backend), migrated.url("payments", backend)
    async with live_kernel_database(pub_url, orders_kernel) as pub_db, \
            live_kernel_database(sub_url, payments_kernel) as sub_db:
        FLAKY.clear()
        FLAKY[("h-1", 1)] = FLAKY[("h-3", 1)] = ALWAYS
        subscriber = subscriber_app(sub_db, sub_url, keys, relay_enabled=True, events_max_attempts=2)
        async with serving(subscriber) as sub, \
                running_gateway(migrated, backend, keys, payments_url=sub.url) as gw, gw.client() as admin_client:
            publisher = publisher_app(pub_db, pub_url, keys, subscriber_url=sub.url, relay_enabled=True)
            async with app_client(publisher), httpx.AsyncClient(base_url=sub.url) as sub_client:
                ids = await emit_events(pub_db, [("h-1", 1), ("h-1", 2), ("h-2", 1), ("h-3", 1), ("h-3", 2)])

                async def two_parked_two_waiting():
                    consumer = (await sub_client.get("/healthz")).json()["consumer"]
                    return consumer if (consumer["parked"], consumer["pending"]) == (2, 4) else None

                consumer = await eventually(two_parked_two_waiting)
                assert consumer["status"] == "degraded" and consumer["transport"] == "http"
                assert [seq[:2] for seq in await handled(sub_db)] == [("h-2", 1)]
                await eventually(lambda: _sender_done(pub_db))  # the sender's relay was never held back

                gateway_health = (await admin_client.get("/healthz")).json()
                assert gateway_health["services"]["payments"]["consumer"]["parked"] == 2
                assert gateway_health["consumer"]["pending"] == 0  # its own (notifications): nothing waits
                assert gateway_health["status"] == "degraded"

                admin = keys.headers("admin", account_id=1)
                listing = "/api/admin/events/parked"
                assert (await admin_client.get(listing)).status_code == 401
                assert (await admin_client.get(listing, headers=keys.headers("consumer"))).status_code == 403
                body = (await admin_client.get(listing, headers=admin)).json()["services"]
                assert body["orders"]["status"] == "unreachable"  # not running here; the others still show
                assert body["gateway"] == {"status": "ok", "items": []}  # the gateway's own (notifications)
                parked = {item["aggregate_id"]: item for item in body["payments"]["items"]}
                assert set(parked) == {"h-1", "h-3"}
                assert parked["h-1"]["attempts"] == 2 and parked["h-1"]["waiting_behind"] == 1

                unknown = await admin_client.post("/api/admin/events/payments/parked/no-such-event/retry", headers=admin)
                assert unknown.status_code == 404
                bad_service = await admin_client.post(
                    f"/api/admin/events/bank/parked/{parked['h-1']['event_id']}/retry", headers=admin)
                assert bad_service.status_code == 422

                FLAKY[("h-1", 1)] = 0  # the fix for h-1; h-3's first event is given up
                retried = await admin_client.post(
                    f"/api/admin/events/payments/parked/{parked['h-1']['event_id']}/retry", headers=admin)
                assert retried.status_code == 200 and retried.json()["status"] == "retrying"
                # the operator's command line (make events-parked) sees the same
                monkeypatch.setenv("PAYMENTS_DATABASE_URL", sub_url)
                capsys.readouterr()
                assert await asyncio.to_thread(dead_letters_command, ["list", "--service", "payments"]) == 0
                assert parked["h-3"]["event_id"] in capsys.readouterr().out
                dropped = await admin_client.delete(
                    f"/api/admin/events/payments/parked/{parked['h-3']['event_id']}", headers=admin)
                assert dropped.status_code == 200 and dropped.json()["status"] == "dropped"

                seen = await eventually(lambda: _handled_at_least(sub_db, len(ids) - 1))
                consumer = (await sub_client.get("/healthz")).json()["consumer"]
        assert_in_order_per_aggregate(seen, {"h-1": [1, 2], "h-2": [1], "h-3": [2]})
        assert consumer["parked"] == 0


async def _handled_at_least(db, n):
    seen = await handled(db)
    return seen if len(seen) >= n else None


async def _sender_done(db):
    return await pending(db) == []
