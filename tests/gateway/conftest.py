"""Gateway test helpers: a gateway app on a rolled-back database, clients with chosen addresses,
real HTTP servers for the services behind it, and a probe service that shows what it received."""

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
import uvicorn
from asgi_lifespan import LifespanManager
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from sqlalchemy import MetaData

from gateway.app import create_app
from infra.ports import free_port
from services.common.app import ServiceSpec, create_service_app
from services.common.auth import CurrentPrincipal, ServiceCaller
from services.common.db import Database
from services.common.tables import kernel_tables
from tests.conftest import service_settings, transactional_database

CHEAP_HASHING = {"password_time_cost": 1, "password_memory_kib": 1024, "password_parallelism": 1}




def dead_url() -> str:
    """A URL where nothing listens (connection refused at once)."""
    return f"http://127.0.0.1:{free_port()}"


def gateway_settings(url: str, keys, **overrides):
    values = {"jwt_private_key_path": str(keys.private_path), "jwt_public_key_path": str(keys.public_path),
              "redis_url": "", **CHEAP_HASHING}
    values.update({f"{name}_url": dead_url() for name in ("catalog", "orders", "delivery", "payments")})
    values.update(overrides)
    return service_settings("gateway", url, **values)


class Gateway:
    """A running gateway app (lifespan done) and clients that come from given addresses."""

    def __init__(self, app, asgi):
        self.app = app
        self.asgi = asgi

    @asynccontextmanager
    async def client(self, address: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
        transport = httpx.ASGITransport(app=self.asgi, client=(address, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=30) as client:
            yield client


@asynccontextmanager
async def running_gateway(migrated, backend: str, keys, *, database: Database | None = None,
                          **overrides) -> AsyncIterator[Gateway]:
    url = migrated.url("gateway", backend)
    async with transactional_database(url) if database is None else _given(database) as db:
        app = create_app(gateway_settings(url, keys, **overrides), database=db, verifier=keys.verifier)
        async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30) as manager:
            yield Gateway(app, manager.app)


@asynccontextmanager
async def _given(database):
    yield database


@asynccontextmanager
async def serving(app) -> AsyncIterator[str]:
    """Serve an ASGI app over real HTTP on a free local port (in this event loop); yields its URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_config=None, log_level="warning",
                                          timeout_graceful_shutdown=1))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("server stopped at start")
            await asyncio.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


def probe_router() -> APIRouter:
    router = APIRouter()

    @router.get("/whoami")
    async def whoami(principal: CurrentPrincipal):
        return {"account_id": principal.account_id, "role": principal.role, "producer_id": principal.producer_id,
                "name": principal.name}

    @router.api_route("/echo/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def echo(rest: str, request: Request):
        return {"method": request.method, "path": request.url.path, "query": request.url.query,
                "headers": dict(request.headers), "body": (await request.body()).decode()}

    @router.get("/moved")
    async def moved(request: Request):
        return RedirectResponse(str(request.url_for("whoami")), status_code=307)

    @router.get("/slow")
    async def slow():
        await asyncio.sleep(30)
        return {"late": True}

    @router.get("/internal/secret")
    async def secret(_: ServiceCaller):
        return {"secret": "only for services"}

    return router


@asynccontextmanager
async def probe_service(keys, tmp_path, *, verifier=None) -> AsyncIterator[str]:
    """A small service built by the kernel (token checks, error shape), served over HTTP; yields its URL."""
    metadata = MetaData()
    kernel = kernel_tables(metadata)
    db = Database.from_url(f"sqlite+aiosqlite:///{tmp_path / 'probe.db'}")
    async with db.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    spec = ServiceSpec(name="probe", title="probe", description="probe", kernel=kernel, routers=[probe_router()])
    app = create_service_app(spec, service_settings("catalog", "sqlite://"), database=db,
                             verifier=verifier or keys.verifier, check_migrations=False)
    async with serving(app) as url:
        yield url


@pytest.fixture
async def probe_url(keys, tmp_path) -> AsyncIterator[str]:
    async with probe_service(keys, tmp_path) as url:
        yield url


async def register_and_login(client: httpx.AsyncClient, *, login: str, password: str = "una clave larga",
                             **fields) -> dict:
    key = "email" if "@" in login else "phone"
    r = await client.post("/api/auth/register", json={key: login, "password": password, "name": "Juana Mamani",
                                                      **fields})
    assert r.status_code == 201, r.text
    r = await client.post("/api/auth/login", json={"login": login, "password": password})
    assert r.status_code == 200, r.text
    return r.json()
