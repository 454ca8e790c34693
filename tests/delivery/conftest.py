"""Fixtures of the delivery tests: an in-process delivery app on a rolled-back database."""

from contextlib import asynccontextmanager

import pytest

from services.delivery.app import create_app
from tests.conftest import (
    app_client,
    live_database,
    require_postgres,
    service_settings,
    transactional_database,
)

SERVICE_KEY = {"X-Service-Key": "test-service-secret"}


@asynccontextmanager
async def delivery_client(db, keys, url, **settings):
    app = create_app(service_settings("delivery", url, **settings), database=db, verifier=keys.verifier)
    async with app_client(app) as client:
        client.app = app
        yield client


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


async def create_point(client, keys, **overrides) -> dict:
    r = await client.post("/points", json=point_body(**overrides), headers=keys.headers("coordinator", account_id=1))
    assert r.status_code == 201, r.text
    return r.json()
