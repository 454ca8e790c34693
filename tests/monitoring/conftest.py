"""A small territory of raw records in the four services' own databases, and the gateway composing
them in process: each service app runs on its rolled-back database; the gateway's monitoring
clients reach them through in-process transports (no network, same HTTP contract).

The records are plain Python data (RECORDS), so a test can compute every figure from them with its
own arithmetic and compare with what the monitoring API answers.
"""

import importlib
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import httpx
from asgi_lifespan import LifespanManager
from sqlalchemy import insert

from services.common.http import ServiceClient
from tests.conftest import app_client, service_settings, transactional_database

SERVICES = ("catalog", "orders", "delivery", "payments")
PERIOD = (date(2026, 3, 1), date(2026, 3, 31))
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)

MUNICIPALITIES = [("020101", "La Paz", "Murillo", "La Paz", -16.4958, -68.1333),
                  ("020105", "El Alto", "Murillo", "La Paz", -16.5047, -68.1633),
                  ("030101", "Cochabamba", "Cercado", "Cochabamba", -17.3895, -66.1568)]
# id, legal form, maturity, municipality, members, women
ORGANIZATIONS = [(1, "cooperativa", "consolidada", "020101", 40, 22), (2, "asociacion", "embrionaria", "020101", 15, 9),
                 (3, "oeca", "en_consolidacion", "020105", 30, 12), (4, "asociacion", "consolidada", "030101", 20, 5)]
# id, name, gender, phone, municipality, organization
PRODUCERS = [(1, "Juana Mamani Quispe", "female", "+59171110001", "020101", 1),
             (2, "Pedro Condori Apaza", "male", "+59171110002", "020101", 1),
             (3, "Sabina Choque Limachi", "female", "+59171110003", "020101", 2),
             (4, "Rubén Ticona Copa", "male", "+59171110004", "020101", None),
             (5, "Felipa Huanca Poma", "female", "+59171110005", "020105", 3),
             (6, "Germán Yujra Nina", "male", "+59171110006", "020105", 3),
             (7, "Teodora Colque Cruz", "female", "+59171110007", "030101", 4)]
# id, producer, name, category, unit, price (centavos), available
PRODUCTS = [(1, 1, "Papa huaycha", "tuberculos", "arroba", 6000, "20"),
            (2, 2, "Papa huaycha", "tuberculos", "arroba", 5500, "10"),
            (3, 1, "Lechuga crespa", "hortalizas", "unidad", 300, "50"),
            (4, 3, "Tomate", "hortalizas", "kg", 800, "40"),
            (5, 4, "Quinua real", "granos_andinos", "kg", 2200, "100"),
            (6, 5, "Chuño", "tuberculos", "libra", 800, "30"),
            (7, 6, "Tomate", "hortalizas", "kg", 750, "25"),
            (8, 7, "Miel de abeja", "miel", "litro", 6000, "12")]
# municipality, category, product name, unit, price (centavos)
REFERENCES = [("020101", "tuberculos", "Papa huaycha", "arroba", 5000),
              ("020101", "hortalizas", None, "kg", 700),
              ("020105", "hortalizas", None, "kg", 800)]
# delivery points: id, name, municipality, lat, lon, contact phone
POINTS = [(1, "Mercado Camacho", "020101", -16.4990, -68.1309, "+59172220001"),
          (2, "Feria 16 de Julio", "020105", -16.4932, -68.1814, "+59172220002"),
          (3, "Mercado La Pampa", "030101", -17.4000, -66.1540, "+59172220003")]
# cycles: id, delivery date (cycle 2 is outside the period)
CYCLES = [(1, date(2026, 3, 14)), (2, date(2026, 4, 18))]
CONSUMERS = {501: "Ana Quispe Mamani", 502: "Carla Rojas Vargas", 503: "Luis Fernández Choque"}
# orders: id, cycle, consumer, point, status, booking status at delivery
ORDERS = [(1, 1, 501, 1, "picked_up", "picked_up"), (2, 1, 502, 1, "no_show", "no_show"),
          (3, 1, 503, 2, "placed", "confirmed"), (4, 1, 501, 1, "cancelled", "released"),
          (5, 2, 502, 1, "placed", "confirmed"), (6, 1, 503, 3, "ready", "confirmed")]
# order lines: order, product, quantity, unit price paid (centavos), allocated (after cases) or None
LINES = [(1, 1, "2", 5800, None), (1, 3, "4", 300, None), (1, 4, "3", 750, None),
         (2, 2, "1", 5500, None), (2, 7, "2", 780, None),
         (3, 6, "5", 800, None), (3, 7, "1.5", 750, "1"),
         (4, 1, "3", 6000, None),
         (5, 1, "1", 6200, None),
         (6, 8, "2", 6000, None)]
# advances: id, producer, status, principal (centavos), fee (centavos)
ADVANCES = [(1, 1, "disbursed", 50000, 1500), (2, 2, "repaid", 30000, 900), (3, 3, "requested", 20000, 600),
            (4, 5, "disbursed", 40000, 1200), (5, 7, "rejected", 10000, 300), (6, 3, "producer_debt", 15000, 450),
            (7, 1, "disbursed", 99900, 2997)]
# when each disbursed advance went out: number 7 before the period, so it must not count
DISBURSED_AT = {1: NOW, 2: NOW, 4: NOW, 6: NOW, 7: datetime(2026, 2, 20, 9, 0, tzinfo=UTC)}


def product(pid: int) -> tuple:
    return next(p for p in PRODUCTS if p[0] == pid)


def producer(pid: int) -> tuple:
    return next(p for p in PRODUCERS if p[0] == pid)


async def _insert(db, table, rows: list[dict]) -> None:
    if rows:
        async with db.session() as s:
            await s.execute(insert(table), rows)


async def seed_catalog(db) -> None:
    from services.catalog import models as m
    from services.catalog.text import fold

    await _insert(db, m.Municipality.__table__, [
        dict(code=c, name=n, province=p, department=d, lat=la, lon=lo, created_at=NOW)
        for c, n, p, d, la, lo in MUNICIPALITIES])
    await _insert(db, m.Organization.__table__, [
        dict(id=i, name=f"Organización {i}", legal_form=f, maturity=mat, value_chain_stage="materia_prima",
             municipality_code=c, member_count=mem, women_count=w, legal_papers=[], phone="+59170000000",
             created_at=NOW) for i, f, mat, c, mem, w in ORGANIZATIONS])
    await _insert(db, m.Producer.__table__, [
        dict(id=i, name=n, gender=g, phone=ph, community="Comunidad San José", municipality_code=c,
             organization_id=o, created_at=NOW) for i, n, g, ph, c, o in PRODUCERS])
    await _insert(db, m.Product.__table__, [
        dict(id=i, producer_id=pr, name=n, search_name=fold(n), category=cat, unit=u, price_centavos=price,
             available=Decimal(av), reserved=Decimal(0), sold=Decimal(0), min_order_quantity=Decimal(1),
             active=True, created_at=NOW, updated_at=NOW) for i, pr, n, cat, u, price, av in PRODUCTS])
    await _insert(db, m.ReferencePrice.__table__, [
        dict(municipality_code=c, category=cat, product_name=n, search_name=fold(n) if n else None, unit=u,
             price_centavos=price, valid_from=date(2026, 1, 1), created_at=NOW)
        for c, cat, n, u, price in REFERENCES])


async def seed_orders(db) -> None:
    from services.orders.models import cycles, order_lines, orders

    await _insert(db, cycles, [
        dict(id=i, name=f"Ciclo {i}", coordinator_account_id=900, status="consolidated",
             opens_at=datetime.combine(d - timedelta(days=7), datetime.min.time(), UTC),
             closes_at=datetime.combine(d - timedelta(days=2), datetime.min.time(), UTC), delivery_date=d,
             point_ids=[p[0] for p in POINTS], point_capacity={}, product_ids=None, fee_rules=[], created_at=NOW)
        for i, d in CYCLES])
    order_rows, line_rows = [], []
    for oid, cycle, consumer, point, status, _ in ORDERS:
        lines = [ln for ln in LINES if ln[0] == oid]
        subtotal = sum(line_total(ln) for ln in lines)
        order_rows.append(dict(id=oid, cycle_id=cycle, consumer_account_id=consumer,
                               consumer_name=CONSUMERS[consumer], delivery_point_id=point, status=status,
                               request_hash="x" * 64, request={}, line_count=len(lines),
                               pickup_code=f"CODE{oid:04d}", subtotal=subtotal, fees_total=0, total=subtotal, fees=[],
                               created_at=NOW, placed_at=NOW, updated_at=NOW))
        for pos, ln in enumerate(lines, start=1):
            _, pid, q, price, allocated = ln
            _, producer_id, name, cat, unit, _, _ = product(pid)
            _, pname, gender, _, code, org = producer(producer_id)
            line_rows.append(dict(order_id=oid, line_id=f"{oid}-{pos}", position=pos, cycle_id=cycle,
                                  delivery_point_id=point, product_id=pid, product_name=name, category=cat,
                                  unit=unit, unit_price=price, quantity=Decimal(q), tolerance=Decimal(0),
                                  allocated_quantity=Decimal(allocated) if allocated else None,
                                  line_total=line_total(ln), producer_id=producer_id, producer_name=pname,
                                  producer_gender=gender, organization_id=org, municipality_code=code))
    await _insert(db, orders, order_rows)
    await _insert(db, order_lines, line_rows)


def line_total(line: tuple) -> int:
    """What the order pays for the line: price × (allocated or ordered) quantity, to the centavo."""
    _, _, q, price, allocated = line
    return int((Decimal(allocated or q) * price).quantize(Decimal(1)))


SATURDAYS = [{"weekday": 5, "opens": "07:00", "closes": "13:00"}]  # the cycles deliver on Saturdays


async def seed_delivery(db) -> None:
    from services.delivery.models import Booking, Cycle, DeliveryPoint

    await _insert(db, DeliveryPoint.__table__, [
        dict(id=i, name=n, kind="mercado", address="Calle 1", municipality_code=c, lat=la, lon=lo, schedule=SATURDAYS,
             contact=ph, cold_storage=False, active=True, max_orders_per_cycle=50, created_at=NOW, updated_at=NOW)
        for i, n, c, la, lo, ph in POINTS])
    await _insert(db, Cycle.__table__, [dict(id=i, name=f"Ciclo {i}", delivery_date=d, closed_at=NOW)
                                        for i, d in CYCLES])
    await _insert(db, Booking.__table__, [
        dict(order_id=str(oid), point_id=point, cycle_id=cycle, status=booking, consumer_account_id=consumer,
             pickup_code=f"CODE{oid:04d}", pickup_failures=0, created_at=NOW)
        for oid, cycle, consumer, point, _, booking in ORDERS])


async def seed_payments(db) -> None:
    from services.payments.models import advance_policies, advances, financiers, funds, producer_profiles

    await _insert(db, financiers, [dict(id=1, name="Fondo de prueba", kind="trust_fund", created_at=NOW)])
    await _insert(db, funds, [dict(id=1, financier_id=1, name="Fondo 1", cap=10_000_000, created_at=NOW)])
    await _insert(db, advance_policies, [dict(id=1, financier_id=1, fund_id=1, name="Política", advance_rate=Decimal("0.8"),
                                              fee_kind="percent", fee_value=Decimal(3), min_amount=100,
                                              max_amount=10_000_000, producer_limit=10_000_000, created_at=NOW)])
    await _insert(db, producer_profiles, [
        dict(producer_id=i, name=n, gender=g, municipality_code=c,
             organization_id=o, updated_at=NOW) for i, n, g, _, c, o in PRODUCERS])
    await _insert(db, advances, [
        dict(id=i, producer_id=p, financier_id=1, fund_id=1, policy_id=1, status=st, eligible_value=principal * 2,
             principal=principal, fee=fee, expected_collection_on=date(2026, 4, 1), receivable_ids=[],
             requested_at=NOW, disbursed_at=DISBURSED_AT.get(i)) for i, p, st, principal, fee in ADVANCES])


SEEDERS = {"catalog": seed_catalog, "orders": seed_orders, "delivery": seed_delivery, "payments": seed_payments}


@dataclass
class Territory:
    client: httpx.AsyncClient
    gateway: object
    transports: dict  # service name -> in-process transport, to ask a service directly


def service_app(name: str, url: str, db, keys):
    module = importlib.import_module(f"services.{name}.app")
    extra = {"background_enabled": False} if name == "orders" else {}
    return module.create_app(service_settings(name, url, **extra), database=db, verifier=keys.verifier)


def gateway_app(url: str, db, keys):
    from gateway.app import create_app

    return create_app(service_settings("gateway", url, rate_limit_enabled=False), database=db,
                      verifier=keys.verifier, issuer=keys.issuer)


@asynccontextmanager
async def territory(migrated, keys, backend, *, seed: bool = True):
    """The four services with the records above, and a gateway client composing them."""
    async with AsyncExitStack() as stack:
        transports = {}
        for name in SERVICES:
            url = migrated.url(name, backend)
            db = await stack.enter_async_context(transactional_database(url))
            if seed:
                await SEEDERS[name](db)
            manager = await stack.enter_async_context(
                LifespanManager(service_app(name, url, db, keys), startup_timeout=30))
            transports[name] = httpx.ASGITransport(app=manager.app)
        url = migrated.url("gateway", backend)
        gw_db = await stack.enter_async_context(transactional_database(url))
        gateway = gateway_app(url, gw_db, keys)
        gateway.state.monitoring_clients = {
            name: ServiceClient(name, f"http://{name}", secret="test-service-secret", caller="gateway",
                                transport=t) for name, t in transports.items()}
        client = await stack.enter_async_context(app_client(gateway))
        yield Territory(client, gateway, transports)
