"""Orders test harness: the real catalog and delivery apps in process, wired to an orders app.

`platform(...)` yields a `Platform` with an orders client, the three databases and helpers to seed
products (catalog) and delivery points (delivery), and to open a cycle as a coordinator. Events
between orders and delivery travel over the real HTTP transport when the test calls `pump()`.
"""

from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import async_sessionmaker

from services.catalog.app import create_app as create_catalog
from services.common.db import make_engine
from services.common.http import ServiceClient
from services.common.tables import utcnow
from services.delivery.app import create_app as create_delivery
from services.delivery.models import Booking
from services.orders.app import create_app as create_orders
from services.orders.models import kernel as orders_kernel
from tests.catalog.conftest import seed_organization, seed_producer, seed_product, stock_of
from tests.conftest import app_client, live_database, service_settings, transactional_database
from tests.delivery.conftest import create_point

SECRET = "test-service-secret"
COORDINATOR = 900


class DownTransport(httpx.AsyncBaseTransport):
    """A service that does not answer: every call fails to connect."""

    async def handle_async_request(self, request):
        raise httpx.ConnectError("connection refused", request=request)


# who receives which event in the harness (payments is not part of it)
SUBSCRIBERS = {
    "orders": {"order.cancelled": ["delivery"], "cycle.capacity_changed": ["delivery"]},
    "delivery": {"booking.promoted": ["orders"]},
}


class SwitchTransport(httpx.AsyncBaseTransport):
    """Forwards to an app, or fails to connect while `down` is set (a service that goes away);
    `before`, when set, is awaited with each request first (something that happens meanwhile)."""

    def __init__(self, app):
        self.inner = httpx.ASGITransport(app=app)
        self.down = False
        self.before = None

    async def handle_async_request(self, request):
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        if self.before is not None:
            await self.before(request)
        return await self.inner.handle_async_request(request)


@dataclass
class Platform:
    orders: httpx.AsyncClient
    catalog: httpx.AsyncClient
    delivery: httpx.AsyncClient
    orders_app: object
    delivery_app: object
    orders_db: object
    catalog_db: object
    delivery_db: object
    keys: object
    transports: dict = field(default_factory=dict)
    producers: dict = field(default_factory=dict)

    def consumer(self, account_id: int) -> dict:
        return self.keys.headers("consumer", account_id=account_id, name=f"Consumidora {account_id}")

    def coordinator(self, account_id: int = COORDINATOR) -> dict:
        return self.keys.headers("coordinator", account_id=account_id)

    async def producer(self, name="Juana Mamani", organization=None) -> int:
        key = (name, organization)
        if key not in self.producers:
            org_id = None
            if organization:
                org_id = await seed_organization(self.catalog_db, name=organization)
            self.producers[key] = await seed_producer(self.catalog_db, name=name, organization_id=org_id)
        return self.producers[key]

    async def product(self, *, name="Papa Huaycha", unit="arroba", price_centavos=4500, available="50",
                      case_size=None, producer=None, organization=None, min_order="0.001") -> int:
        producer_id = producer or await self.producer(organization=organization)
        return await seed_product(self.catalog_db, producer_id=producer_id, name=name, unit=unit,
                                  price_centavos=price_centavos, available=available, case_size=case_size,
                                  min_order=min_order)

    async def point(self, name="Mercado Camacho", capacity=25, weekdays=range(7), **overrides) -> int:
        """A delivery point, open every day unless `weekdays` says otherwise (lunes = 0)."""
        schedule = [{"weekday": d, "opens": "08:00", "closes": "13:00"} for d in weekdays]
        return (await create_point(self.delivery, self.keys, name=name, max_orders_per_cycle=capacity,
                                   schedule=schedule, **overrides))["id"]

    async def pump(self, rounds: int = 50) -> int:
        """Deliver the events waiting in both outboxes (over HTTP, into the real handlers) until none
        moves (a subscriber's incoming queue included). Returns how many moved."""
        total = 0
        for _ in range(rounds):
            moved = 0
            for app in (self.orders_app, self.delivery_app):
                moved += (await app.state.relay.drain(retry_failed=True, max_rounds=20)).published
                moved += (await app.state.incoming_events.drain(max_rounds=20)).handled
            total += moved
            if not moved:
                break
        return total

    async def events(self, event_type: str) -> list[dict]:
        """The payloads of orders' outbox events of a type, oldest first."""
        async with self.orders_db.session() as s:
            return list((await s.execute(select(orders_kernel.outbox.c.payload)
                                         .where(orders_kernel.outbox.c.event_type == event_type)
                                         .order_by(orders_kernel.outbox.c.id))).scalars())

    async def stock(self, product_id) -> tuple[Decimal, Decimal, Decimal]:
        return await stock_of(self.catalog_db, product_id)

    async def holding_bookings(self) -> int:
        async with self.delivery_db.session() as s:
            return (await s.execute(select(func.count()).select_from(Booking)
                                    .where(Booking.status.in_(("held", "confirmed"))))).scalar_one()

    async def open_cycle(self, *, points, products=None, fee_rules=(), capacity=None, coordinator=COORDINATOR,
                         closes_in=timedelta(days=2), name="Ciclo de la semana") -> dict:
        now = utcnow()
        body = {"name": name, "opens_at": (now - timedelta(hours=1)).isoformat(),
                "closes_at": (now + closes_in).isoformat(),
                "delivery_date": (now + closes_in + timedelta(days=1)).date().isoformat(),
                "delivery_point_ids": list(points), "product_ids": products, "fee_rules": list(fee_rules),
                "point_capacity": capacity or {}, "status": "open"}
        r = await self.orders.post("/cycles", json=body, headers=self.coordinator(coordinator))
        assert r.status_code == 201, r.text
        return r.json()

    async def order(self, *, consumer, cycle, point, lines, key=None, wait_if_full=False):
        headers = self.consumer(consumer)
        if key:
            headers["Idempotency-Key"] = key
        return await self.orders.post("/orders", json={"cycle_id": cycle, "delivery_point_id": point,
                                                       "lines": lines, "wait_if_full": wait_if_full},
                                      headers=headers)


def _client(name, transport):
    return ServiceClient(name, f"http://{name}", secret=SECRET, caller="orders", transport=transport, retries=0)


@asynccontextmanager
async def pooled_live_database(url: str, service: str, pool_size: int):
    """`live_database` with a small pool: three services share PostgreSQL's connection limit."""
    async with live_database(url, service) as db:
        await db.engine.dispose()
        db.engine = make_engine(url, pool_size=pool_size)
        db.sessionmaker = async_sessionmaker(db.engine, expire_on_commit=False)
        yield db


@asynccontextmanager
async def platform(migrated, keys, backend, *, live=False, catalog_down=False, delivery_down=False,
                   **orders_settings):
    """The three services in process, on rolled-back databases (or live ones with real commits)."""
    urls = {s: migrated.url(s, backend) for s in ("catalog", "delivery", "orders")}
    async with AsyncExitStack() as stack:
        dbs = {}
        for service, url in urls.items():
            ctx = pooled_live_database(url, service, 6) if live else transactional_database(url)
            dbs[service] = await stack.enter_async_context(ctx)
        catalog_app = create_catalog(service_settings("catalog", urls["catalog"]), database=dbs["catalog"],
                                     verifier=keys.verifier)
        delivery_app = create_delivery(service_settings("delivery", urls["delivery"]), database=dbs["delivery"],
                                       verifier=keys.verifier)
        delivery_app.state.event_subscribers = SUBSCRIBERS["delivery"]
        catalog = await stack.enter_async_context(app_client(catalog_app))
        delivery = await stack.enter_async_context(app_client(delivery_app))
        transports = {"catalog": SwitchTransport(catalog_app), "delivery": SwitchTransport(delivery_app)}
        transports["catalog"].down = catalog_down
        transports["delivery"].down = delivery_down
        clients = {name: _client(name, t) for name, t in transports.items()}
        orders_settings.setdefault("background_enabled", False)
        orders_app = create_orders(service_settings("orders", urls["orders"], **orders_settings),
                                   database=dbs["orders"], verifier=keys.verifier, clients=clients)
        orders_app.state.event_subscribers = SUBSCRIBERS["orders"]
        orders = await stack.enter_async_context(app_client(orders_app))
        # delivery asks orders who coordinates a cycle it has not seen close yet, and sends it its events
        delivery_app.state.clients["orders"] = _client("orders", httpx.ASGITransport(app=orders_app))
        yield Platform(orders=orders, catalog=catalog, delivery=delivery, orders_app=orders_app,
                       delivery_app=delivery_app, orders_db=dbs["orders"], catalog_db=dbs["catalog"],
                       delivery_db=dbs["delivery"], keys=keys, transports=transports)
        for client in clients.values():
            await client.aclose()
