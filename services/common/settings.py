"""Settings shared by every service; each service subclasses with its own env prefix.

`CATALOG_DATABASE_URL=postgresql+asyncpg://...` switches the catalog to PostgreSQL, and so on for
each service. Values common to all processes (keys, service secret, event transport, Redis) are
read without prefix so one environment configures the whole platform.

PostgreSQL connections are a budget per service (`<SERVICE>_DB_POOL_SIZE` + `<SERVICE>_DB_MAX_OVERFLOW`,
16 + 0 by default) split among its uvicorn workers (`<SERVICE>_WORKERS`): each worker's engine gets
ceil(budget / workers), never fewer than 3 pooled connections. Five processes then stay within a stock
server's `max_connections=100` with 1 to 4 workers each (at most 16 connections per service). No
overflow by default: under a steady load an overflow connection is opened and closed again and
again (each a new PostgreSQL backend, its prepared statements lost), which the order bench showed
costing more CPU than waiting a moment for a pooled connection.
"""

import os
import re
import secrets

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.clock import TODAY_VARIABLE
from services.common.paths import var_dir

SERVICE_PORTS = {"gateway": 8000, "catalog": 8001, "orders": 8002, "delivery": 8003, "payments": 8004}
SERVICE_NAMES = ("catalog", "orders", "delivery", "payments")
# every process that may subscribe to events: the services and the gateway (notifications)
EVENT_PROCESSES = (*SERVICE_NAMES, "gateway")


def default_sqlite_url(service: str) -> str:
    return f"sqlite+aiosqlite:///{var_dir() / (service + '.db')}"


def installation_name(configured: str = "") -> str:
    """A name usable in NATS stream, subject and consumer names ([a-z0-9_-]); an id generated once
    and kept in `var/installation` when none is configured (every process of a machine shares it)."""
    name = configured.strip()
    if not name:
        path = var_dir() / "installation"
        if not path.exists():
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(f"mc{secrets.token_hex(5)}\n")
            try:
                os.link(tmp, path)  # another process may have won the race: keep its id
            except FileExistsError:
                pass
            finally:
                tmp.unlink(missing_ok=True)
        name = path.read_text().strip()
    cleaned = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-")
    if not cleaned:
        raise RuntimeError(f"MC_INSTALLATION={configured!r} has no letter or digit to name the installation")
    return cleaned[:32]


# A worker keeps at least this many pooled connections whatever the split: a periodic duty holds one
# for its advisory lock and one for its work while requests still need one.
MIN_POOL_PER_WORKER = 3


def worker_share(budget: int, workers: int, *, floor: int = 0) -> int:
    """One worker's share of a budget split among `workers`: ceil(budget / workers), at least `floor`."""
    return max(floor, -(-budget // max(1, workers)))


def _shared(name: str, default, **kw):
    """A field read from the un-prefixed environment variable `name` (same for every process)."""
    return Field(default, validation_alias=AliasChoices(name, name.lower()), **kw)


class ServiceSettings(BaseSettings):
    """What every service process needs. Subclasses set `service_name` and the env prefix."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    service_name: str = "service"
    database_url: str = ""
    host: str = "127.0.0.1"
    port: int = 0
    environment: str = _shared("MC_ENV", "development")
    # Public key that verifies the gateway's access tokens (PEM file). Generated on first run.
    jwt_public_key_path: str = _shared("MC_JWT_PUBLIC_KEY_PATH", "")
    jwt_issuer: str = _shared("MC_JWT_ISSUER", "mercado-corto")
    # Shared secret that service-to-service calls and internal endpoints require.
    service_secret: str = _shared("MC_SERVICE_SECRET", "")
    # A bearer token that may read every process's /metrics (Prometheus); the service secret may too.
    metrics_token: str = _shared("MC_METRICS_TOKEN", "")
    events_url: str = _shared("EVENTS_URL", "")
    redis_url: str = _shared("REDIS_URL", "")
    http_timeout_seconds: float = _shared("MC_HTTP_TIMEOUT", 5.0)
    log_level: str = _shared("MC_LOG_LEVEL", "INFO")
    # Where services ask the gateway which accounts' access tokens are revoked, and how often
    # (services/common/revocations.py; capped at 60 s); also where the relays deliver the events its
    # notifications consume over HTTP (its /internal/events).
    gateway_url: str = _shared("GATEWAY_URL", f"http://127.0.0.1:{SERVICE_PORTS['gateway']}")
    token_revocation_poll_seconds: float = _shared("MC_TOKEN_REVOCATION_POLL_SECONDS", 15.0)
    # Base URLs of the other services, for synchronous calls and HTTP event delivery.
    catalog_url: str = _shared("CATALOG_URL", f"http://127.0.0.1:{SERVICE_PORTS['catalog']}")
    orders_url: str = _shared("ORDERS_URL", f"http://127.0.0.1:{SERVICE_PORTS['orders']}")
    delivery_url: str = _shared("DELIVERY_URL", f"http://127.0.0.1:{SERVICE_PORTS['delivery']}")
    payments_url: str = _shared("PAYMENTS_URL", f"http://127.0.0.1:{SERVICE_PORTS['payments']}")
    # uvicorn workers of this service (`<SERVICE>_WORKERS`, which infra/run.py also passes to
    # uvicorn): every worker is a process with its own connection pool, so the budget below is split.
    workers: int = Field(1, ge=1)
    # PostgreSQL connections of the whole service, split among its workers (`pool_per_worker`):
    # requests beyond a worker's pool wait for a connection rather than opening (and closing) one
    # each. 16 per service, none in overflow, keep the five processes within a stock server's
    # max_connections=100 (97 for applications) with up to 4 workers each; raise them only with the
    # server's limit.
    db_pool_size: int = Field(16, ge=1)
    db_max_overflow: int = Field(0, ge=0)
    # Event relay (services/common/relay.py): publishes the outbox in the background.
    relay_enabled: bool = True
    # periodic duties of a service (ServiceSpec.periodic); tests turn them off and drive them directly
    background_enabled: bool = True
    relay_poll_seconds: float = 1.0
    relay_batch_size: int = 100
    # Retry of an unacknowledged event: backoff * 2**(attempts-1), capped at backoff_max.
    relay_backoff_seconds: float = 1.0
    relay_backoff_max_seconds: float = 300.0
    # A claimed event is not claimed again by another relay for this long (publish in flight).
    relay_lease_seconds: float = 60.0
    # Published events are deleted from the outbox after this many days (0 keeps them).
    relay_retention_days: float = 7.0
    # Consuming events (services/common/incoming.py): batches, parallel aggregates, poison parked.
    events_batch_size: int = 500
    events_concurrency: int = 4
    # A handler that fails this many times parks its event (later events of its aggregate wait).
    events_max_attempts: int = 5
    # /healthz says `degraded` when the oldest unhandled event is older than this (or one is parked).
    events_lag_degraded_seconds: float = 60.0
    # JetStream redelivers an event not acknowledged within this time (the puller died meanwhile).
    events_ack_wait_seconds: float = 30.0
    # The installation this process belongs to: names its NATS stream, subjects and consumers, so
    # two installations can share one NATS server. Empty: an id generated once under var/.
    installation: str = _shared("MC_INSTALLATION", "")
    # NATS JetStream names (EVENTS_URL=nats://...); empty: derived from the installation name.
    events_stream: str = _shared("EVENTS_STREAM", "")
    events_subject_prefix: str = _shared("EVENTS_SUBJECT_PREFIX", "")
    events_durable_prefix: str = _shared("EVENTS_DURABLE_PREFIX", "")

    def model_post_init(self, __context) -> None:
        if self.environment != "development" and os.environ.get(TODAY_VARIABLE):
            raise RuntimeError(f"{TODAY_VARIABLE} moves the clock for demos and tests; unset it outside development")
        if not self.database_url:
            self.database_url = default_sqlite_url(self.service_name)
        if not self.port:
            self.port = SERVICE_PORTS.get(self.service_name, 0)
        if not self.jwt_public_key_path:
            self.jwt_public_key_path = str(var_dir() / "keys" / "jwt_public.pem")

    def pool_per_worker(self) -> tuple[int, int]:
        """(pool size, overflow) of one worker's engine: its share of the service's budget."""
        return (worker_share(self.db_pool_size, self.workers, floor=MIN_POOL_PER_WORKER),
                worker_share(self.db_max_overflow, self.workers))

    def service_url(self, name: str) -> str:
        return getattr(self, f"{name}_url")

    def resolved_installation(self) -> str:
        """The installation name: `MC_INSTALLATION`, else an id generated once under var/."""
        return installation_name(self.installation)

    def event_names(self, service: str) -> tuple[str, str, str]:
        """(stream, subject prefix, durable consumer name) of this installation on NATS JetStream."""
        if self.events_stream and self.events_subject_prefix:
            installation = ""
        else:
            installation = self.resolved_installation()
        stream = self.events_stream or f"MERCADO_{installation}"
        prefix = self.events_subject_prefix or f"mercado.{installation}.events"
        durable_prefix = self.events_durable_prefix or (f"{installation}_" if installation else "")
        return stream, prefix, f"{durable_prefix}{service}"

    def resolved_service_secret(self) -> str:
        """The service secret: from the environment, else the development file under var/."""
        if self.environment != "development":
            if not self.service_secret:
                raise RuntimeError("MC_SERVICE_SECRET must be set outside development")
            from services.common.secret_strength import require_strong_secret

            return require_strong_secret(self.service_secret, name="MC_SERVICE_SECRET")
        if self.service_secret:
            return self.service_secret
        from services.common.keys import development_service_secret

        return development_service_secret()
