"""Catalog test helpers: a running catalog app on a rolled-back database, and seed rows."""

from contextlib import asynccontextmanager
from decimal import Decimal

import pytest
from sqlalchemy import insert, select

from services.catalog.app import create_app
from services.catalog.models import Municipality, Organization, Producer, Product
from services.catalog.text import fold
from services.common.tables import utcnow
from tests.conftest import app_client, service_settings, transactional_database

SERVICE = {"X-Service-Key": "test-service-secret"}


@asynccontextmanager
async def catalog(migrated, keys, backend, *, database=None, **settings):
    """(client, db) for a catalog app on a rolled-back database (or the given one)."""
    url = migrated.url("catalog", backend)
    if database is None:
        async with transactional_database(url) as db, _client(db, url, keys, settings) as client:
            yield client, db
    else:
        async with _client(database, url, keys, settings) as client:
            yield client, database


@asynccontextmanager
async def _client(db, url, keys, settings):
    app = create_app(service_settings("catalog", url, **settings), database=db, verifier=keys.verifier)
    async with app_client(app) as client:
        yield client


async def seed_place(db, *, code="020101", name="Nuestra Señora de La Paz", department="La Paz",
                     province="Murillo"):
    async with db.session() as s:
        exists = (await s.execute(select(Municipality.code).where(Municipality.code == code))).first()
        if not exists:
            await s.execute(insert(Municipality).values(code=code, name=name, province=province,
                                                         department=department, lat=-16.5, lon=-68.15,
                                                         created_at=utcnow()))
    return code


async def seed_organization(db, *, municipality="020101", name="Cooperativa Illimani", **kw):
    await seed_place(db, code=municipality)
    values = dict(name=name, legal_form="cooperativa", maturity="consolidada",
                  value_chain_stage="materia_prima", municipality_code=municipality, member_count=20,
                  women_count=12, legal_papers=["personeria_juridica"], created_at=utcnow()) | kw
    async with db.session() as s:
        return (await s.execute(insert(Organization).values(**values).returning(Organization.id))).scalar_one()


async def seed_producer(db, *, municipality="020101", name="Juana Mamani", gender="female",
                        organization_id=None):
    await seed_place(db, code=municipality)
    async with db.session() as s:
        return (await s.execute(insert(Producer).values(
            name=name, gender=gender, municipality_code=municipality, community="Achocalla",
            organization_id=organization_id, phone="+59171234567", lat=-16.58, lon=-68.17,
            created_at=utcnow()).returning(Producer.id))).scalar_one()


async def seed_product(db, *, producer_id, name="Papa Huaycha", category="tuberculos", unit="arroba",
                       price_centavos=4500, available="50", min_order="1", case_size=None, active=True):
    now = utcnow()
    async with db.session() as s:
        return (await s.execute(insert(Product).values(
            producer_id=producer_id, name=name, search_name=fold(name), category=category, unit=unit,
            price_centavos=price_centavos, available=Decimal(available), reserved=Decimal(0),
            sold=Decimal(0), min_order_quantity=Decimal(min_order),
            case_size=Decimal(case_size) if case_size else None, active=active, created_at=now,
            updated_at=now).returning(Product.id))).scalar_one()


async def stock_of(db, product_id):
    async with db.session() as s:
        row = (await s.execute(select(Product.available, Product.reserved, Product.sold)
                               .where(Product.id == product_id))).one()
    return tuple(Decimal(v).quantize(Decimal("0.001")) for v in row)


@pytest.fixture
def service_headers():
    return dict(SERVICE)


@asynccontextmanager
async def small_pool(db, size=5):
    """A second Database on the same PostgreSQL with a small pool: real concurrency, while leaving
    connections for everybody else sharing the server."""
    from services.common.db import Database, make_engine

    other = Database(make_engine(str(db.engine.url.render_as_string(hide_password=False)), pool_size=size))
    try:
        yield other
    finally:
        await other.dispose()
