"""Shared fixtures: databases on SQLite and PostgreSQL, keys and tokens, in-process service apps.

Databases are migrated once per test session (per service and backend), then every test runs inside
a transaction that is rolled back (`service_db`). Tests that need real concurrency or real commits
(row locks, races, crash recovery) use `live_db`, which commits for real and empties the tables after.

PostgreSQL comes from TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/postgres).
When it is unreachable the PostgreSQL variants are skipped with the reason; with CI=true that is a
failure instead, so CI can never pass without exercising PostgreSQL.
"""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import delete

from gateway.tokens import TokenIssuer
from services.common.auth import TokenVerifier
from services.common.db import Database, make_engine
from services.common.keys import ensure_signing_keys
from services.common.migrations import metadata_of, upgrade

BACKENDS = ("sqlite", "postgres")
PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
RUN_ID = f"{os.getpid()}_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"


def _pg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def _with_database(url: str, dbname: str) -> str:
    base = _pg_dsn(url).rsplit("/", 1)[0]
    return f"{base}/{dbname}"


async def _pg_execute(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_pg_dsn(url), timeout=3)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


_pg_state: dict[str, str | None] = {}


def postgres_unreachable_reason() -> str | None:
    """None when PostgreSQL answers; otherwise why not (computed once)."""
    if "reason" not in _pg_state:
        try:
            with ThreadPoolExecutor(1) as pool:
                pool.submit(asyncio.run, _pg_execute(PG_ADMIN_URL, "SELECT 1")).result()
            _pg_state["reason"] = None
        except Exception as exc:
            _pg_state["reason"] = f"PostgreSQL not reachable at {PG_ADMIN_URL}: {exc!r}"
    return _pg_state["reason"]


def require_postgres() -> None:
    reason = postgres_unreachable_reason()
    if reason:
        if IN_CI:
            pytest.fail(f"{reason} (CI=true: PostgreSQL tests must run)")
        pytest.skip(reason)


class MigratedDatabases:
    """One migrated database per (service, backend) for the whole test session."""

    def __init__(self, tmp_dir: Path):
        self.tmp_dir = tmp_dir
        self.urls: dict[tuple[str, str], str] = {}
        self.pg_databases: list[str] = []

    def url(self, service: str, backend: str) -> str:
        """The migrated database's URL; safe to call from async tests (work runs in a thread)."""
        key = (service, backend)
        if key not in self.urls:
            if backend == "postgres":
                require_postgres()
            with ThreadPoolExecutor(1) as pool:
                pool.submit(self._create, service, backend).result()
        return self.urls[key]

    def _create(self, service: str, backend: str) -> None:
        key = (service, backend)
        if key not in self.urls:
            if backend == "sqlite":
                url = f"sqlite+aiosqlite:///{self.tmp_dir / f'{service}.db'}"
            else:
                name = f"mc_test_{service}_{RUN_ID}"
                asyncio.run(_pg_execute(PG_ADMIN_URL, f'DROP DATABASE IF EXISTS "{name}"'))
                asyncio.run(_pg_execute(PG_ADMIN_URL, f'CREATE DATABASE "{name}"'))
                self.pg_databases.append(name)
                url = _with_database(PG_ADMIN_URL, name).replace("postgresql://", "postgresql+asyncpg://")
            upgrade(service, url)
            self.urls[key] = url

    def drop_all(self) -> None:
        for name in self.pg_databases:
            try:
                asyncio.run(_pg_execute(PG_ADMIN_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            except Exception:
                pass


@pytest.fixture(scope="session")
def migrated(tmp_path_factory) -> MigratedDatabases:
    dbs = MigratedDatabases(tmp_path_factory.mktemp("databases"))
    yield dbs
    dbs.drop_all()


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    """Parametrizes a test over SQLite and PostgreSQL."""
    if request.param == "postgres":
        require_postgres()
    return request.param


@asynccontextmanager
async def transactional_database(url: str) -> AsyncIterator[Database]:
    """A Database whose sessions run in SAVEPOINTs of one outer transaction, rolled back at the end."""
    engine = make_engine(url)
    conn = await engine.connect()
    trans = await conn.begin()
    try:
        yield Database(engine, bind=conn, owns_engine=False)
    finally:
        await trans.rollback()
        await conn.close()
        await engine.dispose()


@asynccontextmanager
async def live_database(url: str, service: str, *, pool_size: int = 20) -> AsyncIterator[Database]:
    """A Database that commits for real; its service's tables are emptied afterwards. The PostgreSQL
    server is shared: a race needs more requests than connections, so a small `pool_size` will do."""
    db = Database(make_engine(url, pool_size=pool_size), owns_engine=True)
    try:
        yield db
    finally:
        metadata = metadata_of(service)
        async with db.session() as session:
            for table in reversed(metadata.sorted_tables):
                await session.execute(delete(table))
        await db.dispose()


@dataclass
class Keys:
    private_path: Path
    public_path: Path
    issuer: TokenIssuer
    verifier: TokenVerifier

    def token(self, role: str = "consumer", account_id: int | None = None, **links) -> str:
        return self.issuer.access_token(account_id=account_id or uuid.uuid4().int % 10**9, role=role,
                                        name=links.pop("name", f"Test {role}"), **links)

    def headers(self, role: str = "consumer", account_id: int | None = None, **links) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, account_id, **links)}"}


@pytest.fixture(scope="session")
def keys(tmp_path_factory) -> Keys:
    folder = tmp_path_factory.mktemp("keys")
    private, public = ensure_signing_keys(folder / "jwt_private.pem", folder / "jwt_public.pem")
    return Keys(private, public, TokenIssuer.from_file(private), TokenVerifier.from_file(public))


@pytest.fixture(autouse=True, scope="session")
def _isolated_var(tmp_path_factory):
    """Tests never touch the developer's var/ folder (databases, keys, photos)."""
    os.environ["MC_VAR_DIR"] = str(tmp_path_factory.mktemp("var"))
    os.environ.setdefault("MC_SERVICE_SECRET", "test-service-secret")
    yield


@asynccontextmanager
async def app_client(app, base_url: str = "http://testserver") -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client for an ASGI app, with its lifespan run."""
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url=base_url, timeout=30) as client:
            yield client


def service_settings(service: str, url: str, **overrides):
    """Settings for a service under test: given database, no relay or periodic duties unless asked."""
    import importlib

    module = importlib.import_module("gateway.settings" if service == "gateway" else f"services.{service}.settings")
    overrides.setdefault("relay_enabled", False)
    overrides.setdefault("background_enabled", False)
    return module.Settings(database_url=url, **overrides)
