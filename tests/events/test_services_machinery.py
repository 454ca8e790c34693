"""Every real service starts its relay and exposes the event endpoint, closed to callers without the key."""

import asyncio
import importlib

import pytest

from services.common.transports import HttpTransport
from tests.conftest import app_client, service_settings
from tests.events.harness import live_kernel_database

SERVICES = ("catalog", "orders", "delivery", "payments")


@pytest.mark.parametrize("service", SERVICES)
async def test_service_runs_its_relay_and_guards_its_event_endpoint(service, backend, migrated, keys):
    module = importlib.import_module(f"services.{service}.app")
    url = migrated.url(service, backend)
    async with live_kernel_database(url, module.SPEC.kernel) as db:
        app = module.create_app(service_settings(service, url, relay_enabled=True), database=db,
                                verifier=keys.verifier)
        async with app_client(app) as client:
            assert isinstance(app.state.event_transport, HttpTransport)
            await asyncio.sleep(0)
            assert app.state.relay._task is not None and not app.state.relay._task.done()
            body = {"id": "x", "type": "order.placed", "aggregate_id": "1", "payload": {}}
            assert (await client.post("/internal/events", json=body)).status_code == 403
            assert (await client.post("/internal/events", json=body,
                                      headers={"X-Service-Key": "wrong"})).status_code == 403
            assert (await client.post("/internal/events", json=body,
                                      headers=keys.headers("admin"))).status_code == 403
            health = await client.get("/healthz")
            assert health.status_code == 200 and health.json()["outbox"]["pending"] == 0
        assert app.state.relay._task is None  # stopped with the app
