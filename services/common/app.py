"""`create_service_app`: the one way a Mercado Corto service is assembled.

It wires what every service has: database and sessions, error shape, request ids and JSON logs,
metrics (closed to the public), token verification with the gateway's revocation list, `/docs` and
`/redoc` without a CDN, idempotency keys, `/healthz` with the outbox backlog, the migration
check at start, and the event relay and inbox endpoint. A service adds only its routers.
"""

import asyncio
import logging
import zlib
from collections.abc import Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.common import heap
from services.common.auth import TokenVerifier, require_metrics_reader
from services.common.background import cancel_and_wait
from services.common.db import Database
from services.common.dead_letters import dead_letters_router
from services.common.docs import install_docs
from services.common.errors import DatabaseOutage, JsonResponse, install_error_handlers
from services.common.event_health import consumer_health, refresh_event_gauges
from services.common.http import ServiceClient
from services.common.idempotency import IdempotencyMiddleware
from services.common.inbox import events_router
from services.common.migrations import ensure_migrated
from services.common.nul_guard import NulGuard
from services.common.observability import Metrics, RequestContextMiddleware, configure_logging
from services.common.revocations import RevocationList, Source, gateway_source
from services.common.secret_strength import require_strong_secret
from services.common.settings import EVENT_PROCESSES, ServiceSettings
from services.common.tables import KernelTables, utcnow

EventHandler = Callable[[AsyncSession, Any], Awaitable[None]]
log = logging.getLogger("mercado.app")


@dataclass
class Periodic:
    """A duty a service runs every few seconds (close due cycles, mark no-shows, ...).

    `every` reads the interval from the settings; 0 or less turns the duty off. All duties are off
    when `settings.background_enabled` is false (tests drive them explicitly).
    """

    name: str
    run: Callable[[FastAPI], Awaitable[Any]]
    every: Callable[[ServiceSettings], float]


async def _run_periodically(app: FastAPI, service: str, duty: Periodic, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        try:
            await run_alone(app.state.db, f"{service}:{duty.name}", lambda: duty.run(app))
        except Exception:  # a failed round is retried next round; the loop must survive it
            log.exception("periodic duty failed", extra={"duty": duty.name})


async def run_alone(db, name: str, work: Callable[[], Awaitable[Any]]) -> bool:
    """Run `work` unless another process (a second uvicorn worker of the same service) is running the
    same duty right now, in which case this round is skipped: on PostgreSQL a session advisory lock
    named after the duty, held on a connection of its own for the round (released when the round
    ends, or when the process dies and its connection closes). SQLite runs one worker. Whether the
    round ran."""
    if db.is_sqlite:
        await work()
        return True
    key = zlib.crc32(f"mercado-duty-{name}".encode())
    async with db.engine.connect() as conn:
        held = (await conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key})).scalar()
        await conn.commit()
        if not held:
            return False
        try:
            await work()
        finally:
            await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
            await conn.commit()
    return True


@dataclass
class ServiceSpec:
    """What makes one service different from another."""

    name: str
    title: str
    description: str
    kernel: KernelTables
    routers: Iterable[APIRouter]
    event_handlers: dict[str, EventHandler] = field(default_factory=dict)
    on_startup: list[Callable[[FastAPI], Awaitable[None]]] = field(default_factory=list)
    on_shutdown: list[Callable[[FastAPI], Awaitable[None]]] = field(default_factory=list)
    periodic: list[Periodic] = field(default_factory=list)
    # where this process learns of revoked access tokens; by default it asks the gateway
    revocation_source: Callable[[FastAPI], Source] | None = None
    # (method, path) of endpoints that keep their Idempotency-Key with what they write, in the same
    # transaction (order placement): the kernel's middleware leaves them alone instead of adding two
    # transactions of its own to every such request
    own_idempotency: frozenset[tuple[str, str]] = frozenset()


async def get_session(request: Request):
    """The request's unit of work: committed on success, rolled back on any error."""
    async with request.app.state.db.session() as session:
        yield session


# scope="function": the unit of work commits before the answer leaves, so a client never sees a 2xx
# for a change that is not yet (or never) committed.
Session = Annotated[AsyncSession, Depends(get_session, scope="function")]


def create_service_app(spec: ServiceSpec, settings: ServiceSettings, *, database: Database | None = None,
                       verifier: TokenVerifier | None = None, clients: dict[str, ServiceClient] | None = None,
                       check_migrations: bool = True) -> FastAPI:
    """Build a service. Tests pass `database` (bound to a rolled-back transaction), `verifier` and
    `clients` (in-process transports); production builds them from `settings`."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        configure_logging(spec.name, settings.log_level)
        state = app.state
        if state.db is None:
            pool_size, max_overflow = settings.pool_per_worker()
            state.db = Database.from_url(settings.database_url, pool_size=pool_size, max_overflow=max_overflow)
            state.metrics.count_statements(state.db)
        if check_migrations:
            await ensure_migrated(state.db, spec.name)
        if state.token_verifier is None:
            state.token_verifier = TokenVerifier.from_file(settings.jwt_public_key_path, issuer=settings.jwt_issuer)
        gateway_client = None
        if state.token_verifier.revocations is None:
            if spec.revocation_source is not None:
                source = spec.revocation_source(app)
            else:
                gateway_client = ServiceClient("gateway", settings.gateway_url, secret=state.service_secret,
                                               caller=spec.name, timeout=settings.http_timeout_seconds, retries=0)
                source = gateway_source(gateway_client)
            state.token_verifier = state.token_verifier.with_revocations(RevocationList(source))
        if state.clients is None:
            state.clients = {
                name: ServiceClient(name, settings.service_url(name), secret=state.service_secret,
                                    caller=spec.name, timeout=settings.http_timeout_seconds)
                for name in EVENT_PROCESSES if name != spec.name
            }
        from services.common.relay import start_event_machinery, stop_event_machinery

        await start_event_machinery(app, spec, settings)
        for hook in spec.on_startup:
            await hook(app)
        duties = []
        if settings.background_enabled:
            duties.append(asyncio.create_task(
                state.token_verifier.revocations.run(settings.token_revocation_poll_seconds),
                name="token revocations"))
            for duty in spec.periodic:
                every = duty.every(settings)
                if every > 0:
                    duties.append(asyncio.create_task(_run_periodically(app, spec.name, duty, every), name=duty.name))
        heap.settle()
        try:
            yield
        finally:
            for task in duties:
                await cancel_and_wait(task)
            for hook in spec.on_shutdown:
                await hook(app)
            await stop_event_machinery(app)
            if gateway_client is not None:
                await gateway_client.aclose()
            if clients is None:
                for client in state.clients.values():
                    await client.aclose()
            await state.db.dispose()

    app = FastAPI(title=spec.title, description=spec.description, version="0.1.0",
                  lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.spec = spec
    app.state.kernel = spec.kernel
    app.state.db = database
    app.state.token_verifier = verifier
    app.state.clients = clients
    app.state.service_secret = settings.resolved_service_secret()
    if settings.environment != "development" and settings.metrics_token:
        require_strong_secret(settings.metrics_token, name="MC_METRICS_TOKEN")
    app.state.metrics = Metrics(spec.name)
    install_error_handlers(app)
    app.add_middleware(NulGuard)
    app.add_middleware(IdempotencyMiddleware, kernel=spec.kernel, own_idempotency=spec.own_idempotency)
    app.add_middleware(DatabaseOutage)
    app.add_middleware(RequestContextMiddleware, metrics=app.state.metrics)
    for router in spec.routers:
        app.include_router(router)
    app.include_router(_operations_router(spec))
    install_docs(app)
    app.include_router(events_router(spec))
    app.include_router(dead_letters_router(spec))
    return app


def _operations_router(spec: ServiceSpec) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", summary="Service, database, outbox and consumer lag")
    async def healthz(request: Request):
        db: Database = request.app.state.db
        outbox = spec.kernel.outbox
        try:
            async with db.session() as session:
                await session.execute(text("SELECT 1"))
                pending, oldest = (await session.execute(
                    select(func.count(), func.min(outbox.c.occurred_at)).where(outbox.c.published_at.is_(None))
                )).one()
        except Exception as exc:  # the point of a health check is to report, not to raise
            return JsonResponse({"service": spec.name, "status": "down", "database": "down",
                                   "error": type(exc).__name__}, status_code=503)
        age = None
        if oldest is not None:
            if oldest.tzinfo is None:
                oldest = oldest.replace(tzinfo=utcnow().tzinfo)
            age = round((utcnow() - oldest).total_seconds(), 3)
        answer = {"service": spec.name, "status": "ok", "database": "ok",
                  "database_backend": "sqlite" if db.is_sqlite else "postgresql",
                  "outbox": {"pending": pending, "oldest_age_seconds": age}}
        try:
            consumer = await consumer_health(request.app.state)
        except Exception as exc:
            consumer = {"status": "degraded", "problems": [f"lag not measured ({type(exc).__name__})"]}
        if consumer is not None:
            answer["consumer"] = consumer
            if consumer["status"] != "ok":
                answer["status"] = "degraded"
        return answer

    @router.get("/metrics", include_in_schema=False)
    async def metrics(request: Request):
        require_metrics_reader(request)
        await refresh_event_gauges(request.app.state, spec.name)
        body, content_type = request.app.state.metrics.render()
        return Response(body, media_type=content_type)

    return router
