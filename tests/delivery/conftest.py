"""Fixtures of the delivery tests: an in-process delivery app on a rolled-back database."""

from contextlib import asynccontextmanager

import httpx
import pytest

from services.common.http import ServiceClient
from services.delivery.app import create_app
from tests.conftest import (
    app_client,
    live_database,
    require_postgres,
    service_settings,
    transactional_database,
)

SERVICE_KEY = {"X-Service-Key": "test-service-secret"}
COORDINATOR = 7  # the coordinator who owns the test cycles (closed_cycle's coordinator_account_id)


def coordinator(keys, account_id: int = COORDINATOR) -> dict[str, str]:
    return keys.headers("coordinator", account_id=account_id)


class DownTransport(httpx.AsyncBaseTransport):
    """A peer service that does not answer (delivery's tests run without orders and payments)."""

    async def handle_async_request(self, request):
        raise httpx.ConnectError("connection refused", request=request)


def peer_client(name: str, app=None) -> ServiceClient:
    """A client for a peer service: in process when `app` is given, down otherwise."""
    transport = httpx.ASGITransport(app=app) if app is not None else DownTransport()
    return ServiceClient(name, f"http://{name}", secret="test-service-secret", caller="delivery",
                         transport=transport, retries=0)


@asynccontextmanager
async def delivery_client(db, keys, url, clients=None, **settings):
    clients = clients or {"orders": peer_client("orders"), "payments": peer_client("payments")}
    app = create_app(service_settings("delivery", url, **settings), database=db, verifier=keys.verifier,
                     clients=clients)
    async with app_client(app) as client:
        client.app = app
        yield client
    for peer in clients.values():
        await peer.aclose()


@pytest.fixture
async def delivery(backend, migrated, keys):
    """(client, db) for the delivery service inside one rolled-back transaction."""
    url = migrated.url("delivery", backend)
    async with transactional_database(url) as db, delivery_client(db, keys, url) as client:
        yield client, db


@pytest.fixture
async def live_delivery(migrated, keys):
    """(client, db) for the delivery service on PostgreSQL with real commits (races)."""
    require_postgres()
    url = migrated.url("delivery", "postgres")
    async with live_database(url, "delivery", pool_size=8) as db, delivery_client(db, keys, url) as client:
        yield client, db


def point_body(**overrides) -> dict:
    body = {
        "name": "Mercado Camacho", "kind": "mercado", "address": "Av. Camacho esq. Bueno",
        "municipality_code": "020101", "lat": -16.4990, "lon": -68.1309,
        "schedule": [{"weekday": 5, "opens": "08:00", "closes": "13:00"}],
        "contact": "+591 71234567", "cold_storage": True, "max_orders_per_cycle": 25,
    }
    body.update(overrides)
    return body


POINT_REGISTRAR = 1  # the coordinator account create_point registers points as


async def create_point(client, keys, **overrides) -> dict:
    r = await client.post("/points", json=point_body(**overrides),
                          headers=keys.headers("coordinator", account_id=POINT_REGISTRAR))
    assert r.status_code == 201, r.text
    return r.json()
