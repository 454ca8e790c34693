"""Assembles the gateway: `uvicorn --factory gateway.app:create_app` (port 8000).

Built with the kernel's `create_service_app` (database, error shape, request ids, JSON logs,
metrics, token verification, idempotency, migration check), then:
- its own `/healthz` and `/metrics` (not public) take precedence over the kernel's, and `/docs`
  shows the merged OpenAPI of the gateway and every service (`/api/openapi.json`);
- two pure-ASGI layers go in front of the app, inside the request-id/metrics layer: the rate
  limiter, then the proxy that forwards `/api/<service>/...` without touching FastAPI;
- the municipal monitoring (`gateway.monitoring`) and the web pages (`gateway.web`) are mounted.

Request path:  trusted proxy headers -> request id + log + metrics -> rate limit -> proxy | idempotency
-> routes.
"""

from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI
from starlette.middleware import Middleware

from gateway.accounts import make_password_hasher, recent_revocations
from gateway.api.audit import router as audit_router
from gateway.api.auth import internal as internal_router
from gateway.api.auth import router as auth_router
from gateway.api.events_admin import router as events_admin_router
from gateway.api.operations import MERGED_OPENAPI_URL, gateway_openapi
from gateway.api.operations import router as operations_router
from gateway.fair_prices.api import router as fair_prices_router
from gateway.fair_prices.room import FairPriceWatch
from gateway.forwarded import TrustedProxyHeaders
from gateway.login_throttle import LoginThrottle, ThrottlePolicy
from gateway.models import kernel
from gateway.notifications.api import router as notifications_router
from gateway.notifications.channels import Channels
from gateway.notifications.handlers import HANDLED_EVENTS, NotificationRoom
from gateway.notifications.sender import Sender
from gateway.proxy import ServiceProxy, make_session
from gateway.ratelimit import MemoryCounters, RateLimiter, RateLimitMiddleware, RedisCounters
from gateway.settings import Settings
from gateway.tokens import TokenIssuer
from gateway.training.api import router as training_router
from services.common.app import Periodic, ServiceSpec, create_service_app
from services.common.incoming import Batched
from services.common.keys import ensure_signing_keys, require_ed25519_private_key
from services.common.observability import RequestContextMiddleware
from services.common.settings import SERVICE_NAMES
from services.common.tables import utcnow

__all__ = ["HANDLED_EVENTS", "create_app"]  # HANDLED_EVENTS: what the services' relays deliver here


def load_token_issuer(settings: Settings) -> TokenIssuer:
    """The signing key; in development the key pair is generated on first start (never committed).
    Elsewhere it must be an Ed25519 private key (32 random bytes): the gateway refuses to start
    otherwise."""
    private, public = Path(settings.jwt_private_key_path), Path(settings.jwt_public_key_path)
    if settings.environment == "development":
        private.parent.mkdir(parents=True, exist_ok=True)
        public.parent.mkdir(parents=True, exist_ok=True)
        ensure_signing_keys(private, public)
    if not private.exists():
        raise RuntimeError(f"token signing key not found at {private}; set MC_JWT_PRIVATE_KEY_PATH")
    if settings.environment != "development":
        require_ed25519_private_key(private.read_bytes(), name="MC_JWT_PRIVATE_KEY_PATH")
    return TokenIssuer.from_file(private, issuer=settings.jwt_issuer, access_ttl=settings.access_token_ttl_seconds,
                                 refresh_ttl=settings.refresh_token_ttl_seconds)


def _make_limiter(settings: Settings, counters) -> RateLimiter | None:
    if not settings.rate_limit_enabled:
        return None
    return RateLimiter(counters, window_seconds=settings.rate_limit_window_seconds,
                       per_address=settings.rate_limit_per_address, per_account=settings.rate_limit_per_account,
                       auth_per_address=settings.rate_limit_auth_per_address)


def _make_login_throttle(settings: Settings, counters) -> LoginThrottle | None:
    if not settings.login_throttle_enabled:
        return None
    return LoginThrottle(counters, ThrottlePolicy(
        free_per_login=settings.login_free_failures_per_account,
        free_per_address=settings.login_free_failures_per_address,
        base_delay_seconds=settings.login_base_delay_seconds, max_delay_seconds=settings.login_max_delay_seconds,
        forget_after_seconds=settings.login_forget_after_seconds))


def _revocations_from_own_database(app: FastAPI):
    """The gateway's processes read the revocations from the accounts table itself."""

    async def fetch() -> dict[int, float]:
        since = utcnow() - timedelta(seconds=app.state.token_issuer.access_ttl + 300)
        async with app.state.db.session() as session:
            return await recent_revocations(session=session, since=since)

    return fetch


def notification_channels(settings: Settings) -> Channels:
    return Channels({"whatsapp": settings.notify_whatsapp_url, "sms": settings.notify_sms_url,
                     "email": settings.notify_email_url})


def both(*rooms: dict) -> dict:
    """The event handlers of several rooms: for an event type more than one listens to, each in turn
    (in the same inbox transaction, so the event has all its effects once, or comes again). Where
    one room takes a batch of events at once (`Batched`), the chain does too: each room handles the
    whole batch in turn (the rooms write apart, so the order between them changes nothing)."""
    listeners: dict[str, list] = {}
    for handlers in rooms:
        for event_type, handler in handlers.items():
            listeners.setdefault(event_type, []).append(handler)

    def chain(handlers: list):
        async def handle(session, envelope) -> None:
            for handler in handlers:
                await handler(session, envelope)

        if not any(isinstance(h, Batched) for h in handlers):
            return handle

        async def handle_many(session, envelopes) -> None:
            for handler in handlers:
                if isinstance(handler, Batched):
                    await handler.many(session, envelopes)
                else:
                    for envelope in envelopes:
                        await handler(session, envelope)

        return Batched(handle, handle_many)

    return {event_type: found[0] if len(found) == 1 else chain(found) for event_type, found in listeners.items()}


def _spec(settings: Settings) -> ServiceSpec:
    room = NotificationRoom(channels_configured=notification_channels(settings).configured,
                            stale_after_hours=settings.notify_stale_after_hours)

    watch = FairPriceWatch(channels_configured=room.channels_configured)

    async def start(app: FastAPI) -> None:
        app.state.http = make_session(connect_timeout=settings.proxy_connect_timeout_seconds,
                                      total_timeout=settings.proxy_timeout_seconds,
                                      max_connections=settings.proxy_max_connections)
        counters = RedisCounters(settings.redis_url) if settings.redis_url else MemoryCounters()
        app.state.counters = counters
        app.state.limiter = _make_limiter(settings, counters)
        app.state.login_throttle = _make_login_throttle(settings, counters)
        room.bind(app.state.clients)
        watch.bind(app.state.clients)
        app.state.fair_price_watch = watch
        app.state.notifier = Sender(
            app.state.db, app.state.notification_channels, batch_size=settings.notify_batch_size,
            max_attempts=settings.notify_max_attempts, backoff_seconds=settings.notify_backoff_seconds,
            backoff_max_seconds=settings.notify_backoff_max_seconds, daily_cap=settings.notify_daily_cap,
            lease_seconds=settings.notify_lease_seconds)

    async def stop(app: FastAPI) -> None:
        await app.state.http.close()
        await app.state.counters.aclose()

    return ServiceSpec(
        name="gateway",
        title="Mercado Corto — API",
        description="Short food supply circuits for Bolivia. Log in at `POST /api/auth/login` and send "
                    "`Authorization: Bearer <access_token>`. Everything under `/api/<service>/` is "
                    "forwarded to that service.",
        kernel=kernel,
        routers=[auth_router, internal_router, operations_router, training_router, audit_router,
                 events_admin_router, notifications_router, fair_prices_router],
        revocation_source=_revocations_from_own_database,
        event_handlers=both(room.handlers, watch.handlers),
        on_startup=[start],
        on_shutdown=[stop],
        periodic=[Periodic("send notifications", run=lambda app: app.state.notifier.send_due(),
                           every=lambda s: s.notify_send_every_seconds),
                  Periodic("check offers against the fair bands",
                           run=lambda app: app.state.fair_price_watch.check_offers(app.state.db),
                           every=lambda s: s.fair_price_check_every_seconds)],
    )


def create_app(settings: Settings | None = None, *, issuer: TokenIssuer | None = None, **overrides) -> FastAPI:
    """The gateway app. Tests pass `database`, `verifier` (and may pass `issuer`) like for services."""
    settings = settings or Settings()
    app = create_service_app(_spec(settings), settings, **overrides)
    state = app.state
    state.token_issuer = issuer or load_token_issuer(settings)
    state.notification_channels = notification_channels(settings)
    state.password_hasher = make_password_hasher(time_cost=settings.password_time_cost,
                                                 memory_kib=settings.password_memory_kib,
                                                 parallelism=settings.password_parallelism,
                                                 concurrency=settings.password_hash_concurrency)
    state.service_targets = {name: settings.service_url(name).rstrip("/") for name in SERVICE_NAMES}
    state.http = None
    state.limiter = None
    state.login_throttle = None
    state.counters = None
    # the municipal monitoring (`/api/monitoring/...`) and the web pages have their own rooms
    from gateway import monitoring, web

    monitoring.install(app)
    web.install(app)

    # the gateway's own /healthz and /metrics are included before the kernel's, so they answer;
    # /docs shows the merged document, and the gateway's part lists only the gateway's routes
    app.openapi_url = MERGED_OPENAPI_URL
    app.openapi = lambda: gateway_openapi(app)
    # outermost: the client's address is settled before anything logs or counts it
    app.user_middleware.insert(0, Middleware(TrustedProxyHeaders, allow=settings.forwarded_allow_ips))
    at = next(i for i, m in enumerate(app.user_middleware) if m.cls is RequestContextMiddleware) + 1
    app.user_middleware[at:at] = [
        Middleware(RateLimitMiddleware, limiter_of=lambda scope: scope["app"].state.limiter),
        Middleware(ServiceProxy, services=state.service_targets, session_of=lambda scope: scope["app"].state.http,
                   max_body_bytes=settings.proxy_max_body_bytes,
                   after_writes=[("catalog", "/reference-prices",
                                  lambda scope: scope["app"].state.fair_price_watch.forget_references())]),
    ]
    return app
