"""Structured JSON logs carrying the request id, and Prometheus metrics per route.

Every process logs one JSON object per line. `RequestContextMiddleware` takes `X-Request-ID` from
the caller (the gateway sets it) or makes one, puts it in the logs and echoes it in the response.
"""

import contextvars
import logging
import sys
import time
import uuid

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "request_id": request_id_var.get(),
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
    logging.getLogger("uvicorn.access").setLevel("WARNING")  # our middleware logs requests
    logging.getLogger("httpx").setLevel("WARNING")  # one line per service call is noise; errors still show


class Metrics:
    """One registry per app, so several apps in one test process don't collide."""

    def __init__(self, service: str):
        self.registry = CollectorRegistry()
        self.requests = Counter("http_requests_total", "HTTP requests", ["service", "method", "route", "status"],
                                registry=self.registry)
        self.errors = Counter("http_errors_total", "HTTP answers with status >= 500",
                              ["service", "method", "route"], registry=self.registry)
        self.latency = Histogram("http_request_duration_seconds", "Request latency", ["service", "method", "route"],
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
                                 registry=self.registry)
        self.statements = Counter("db_statements_total", "SQL statements sent to the database (transaction "
                                  "begin and commit not counted)", ["service"], registry=self.registry)
        self.service = service

    def count_statements(self, db) -> None:
        """Count every statement `db` sends, through SQLAlchemy or standalone: statements per request
        is what its CPU follows."""
        from sqlalchemy import event

        counter = self.statements.labels(self.service)
        event.listen(db.engine.sync_engine, "before_cursor_execute", lambda *_args: counter.inc())
        db.count_statement = counter.inc

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(self.service, method, route, str(status)).inc()
        self.latency.labels(self.service, method, route).observe(seconds)
        if status >= 500:
            self.errors.labels(self.service, method, route).inc()

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


access_log = logging.getLogger("mercado.access")


class RequestContextMiddleware:
    """Request id, access log line and metrics for every HTTP request (pure ASGI: cheap)."""

    def __init__(self, app, *, metrics: Metrics, log_requests: bool = True):
        self.app = app
        self.metrics = metrics
        self.log_requests = log_requests

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        rid = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                rid = value.decode("latin-1")[:64]
                break
        rid = rid or uuid.uuid4().hex
        token = request_id_var.set(rid)
        start = time.perf_counter()
        status_holder = [500]

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - start
            route = getattr(scope.get("route"), "path", None) or scope.get("mc_route") or "unmatched"
            self.metrics.observe(scope["method"], route, status_holder[0], elapsed)
            if self.log_requests:
                access_log.info("request", extra={"method": scope["method"], "path": scope["path"],
                                                  "status": status_holder[0], "ms": round(elapsed * 1000, 2)})
            request_id_var.reset(token)
