"""Fixtures of the payments tests: a rolled-back database per test, an in-process app."""

from contextlib import asynccontextmanager

import pytest

from services.payments.app import create_app
from tests.conftest import app_client, service_settings, transactional_database


@pytest.fixture
async def db(backend, migrated):
    async with transactional_database(migrated.url("payments", backend)) as database:
        yield database


@asynccontextmanager
async def payments_client(db, keys, url: str, **settings):
    app = create_app(service_settings("payments", url, **settings), database=db, verifier=keys.verifier, clients={})
    async with app_client(app) as client:
        yield client


@pytest.fixture
async def client(db, keys, backend, migrated):
    async with payments_client(db, keys, migrated.url("payments", backend)) as c:
        yield c
