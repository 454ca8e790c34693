"""Schema fuzzing: whatever schemathesis sends to the orders API, it never answers 5xx."""

import asyncio
from datetime import timedelta

import httpx
import pytest
import schemathesis

from services.catalog.app import create_app as create_catalog
from services.common.db import Database
from services.common.http import ServiceClient
from services.common.migrations import upgrade
from services.common.tables import utcnow
from services.delivery.app import create_app as create_delivery
from services.orders.app import create_app as create_orders
from tests.catalog.conftest import seed_producer, seed_product
from tests.conftest import service_settings
from tests.fuzzing import fuzz_operations
from tests.orders.conftest import SECRET


async def _seed(urls, keys) -> None:
    """A product, a point and an open cycle, so fuzzed orders can reach the saga."""
    catalog_db, delivery_db = Database.from_url(urls["catalog"]), Database.from_url(urls["delivery"])
    orders_db = Database.from_url(urls["orders"])
    try:
        producer = await seed_producer(catalog_db)
        for n in range(3):
            await seed_product(catalog_db, producer_id=producer, name=f"Producto {n}", available="1000")
        delivery_app = create_delivery(service_settings("delivery", urls["delivery"]), database=delivery_db,
                                       verifier=keys.verifier)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=delivery_app), base_url="http://d") as d:
            r = await d.post("/points", headers=keys.headers("coordinator", account_id=1), json={
                "name": "Mercado Camacho", "kind": "mercado", "address": "Av. Camacho",
                "municipality_code": "020101", "lat": -16.499, "lon": -68.13, "schedule": [],
                "max_orders_per_cycle": 1000})
            assert r.status_code == 201, r.text
        from sqlalchemy import insert

        from services.orders.models import cycles

        async with orders_db.session() as s:
            now = utcnow()
            await s.execute(insert(cycles).values(
                name="Ciclo fuzz", coordinator_account_id=1, status="open", opens_at=now - timedelta(hours=1),
                closes_at=now + timedelta(days=3), delivery_date=(now + timedelta(days=4)).date(),
                point_ids=[1], point_capacity={}, product_ids=None, fee_rules=[
                    {"kind": "packing", "basis": "percent", "value": "3"}], created_at=now))
    finally:
        for db in (catalog_db, delivery_db, orders_db):
            await db.dispose()


@pytest.fixture(scope="module")
def orders_schema(tmp_path_factory, keys):
    folder = tmp_path_factory.mktemp("fuzz")
    urls = {s: f"sqlite+aiosqlite:///{folder / (s + '.db')}" for s in ("catalog", "delivery", "orders")}
    for service, url in urls.items():
        upgrade(service, url)
    asyncio.run(_seed(urls, keys))
    catalog_app = create_catalog(service_settings("catalog", urls["catalog"]), database=Database.from_url(urls["catalog"]),
                                 verifier=keys.verifier)
    delivery_app = create_delivery(service_settings("delivery", urls["delivery"]),
                                   database=Database.from_url(urls["delivery"]), verifier=keys.verifier)
    clients = {name: ServiceClient(name, f"http://{name}", secret=SECRET, caller="orders", retries=0,
                                   transport=httpx.ASGITransport(app=app))
               for name, app in (("catalog", catalog_app), ("delivery", delivery_app))}
    app = create_orders(service_settings("orders", urls["orders"], background_enabled=False),
                        database=Database.from_url(urls["orders"]), verifier=keys.verifier, clients=clients)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.mark.slow
def test_orders_api_never_answers_5xx(orders_schema, keys):
    def send(case):
        role = "consumer" if case.path.startswith("/orders") else "coordinator"
        return case.call(headers=keys.headers(role, account_id=1))

    run = fuzz_operations(orders_schema, send, examples=25)
    assert not run.failures, "\n".join(run.failures[:5])
