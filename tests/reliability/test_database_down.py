"""A service whose database cannot be reached answers 503 with a Spanish message and Retry-After, never
a 500: reads, writes behind an Idempotency-Key (whose middleware touches the database first) and the
gateway's own logins. Real drivers against a database that is not there: PostgreSQL on a port where
nothing listens, SQLite on a file that cannot be opened. (The chaos test sees the same while its
PostgreSQL restarts, through the gateway.)
"""

import importlib
import uuid

import httpx
import pytest
from asgi_lifespan import LifespanManager

from infra.ports import free_port
from services.common.db import Database
from tests.conftest import service_settings

UNREACHABLE = {"sqlite": "sqlite+aiosqlite:////nonexistent/mercado/{name}.db",
               "postgres": "postgresql+asyncpg://postgres@127.0.0.1:{port}/{name}"}
# per process: a read and a write that both need its database
CALLS = {
    "catalog": [("GET", "/products", None, None),
                ("POST", "/products", "producer", {"name": "Papa", "unit": "kg", "price": "5.00", "available": "3"})],
    "orders": [("GET", "/orders", "consumer", None),
               ("POST", "/orders", "consumer", {"cycle_id": 1, "delivery_point_id": 1,
                                                "lines": [{"product_id": 1, "quantity": "1"}]})],
    "delivery": [("GET", "/points", None, None)],
    "payments": [("GET", "/advances", "financier", None)],
    "gateway": [("POST", "/api/auth/login", None, {"login": "alguien@example.bo", "password": "secreto123"})],
}


def _app(name: str, url: str, keys):
    module = importlib.import_module("gateway.app" if name == "gateway" else f"services.{name}.app")
    settings = service_settings(name, url)
    extra = {"issuer": keys.issuer} if name == "gateway" else {}
    return module.create_app(settings, database=Database.from_url(url), verifier=keys.verifier,
                             check_migrations=False, **extra)


@pytest.mark.parametrize("backend", ("sqlite", "postgres"))
@pytest.mark.parametrize("name", list(CALLS))
async def test_a_process_whose_database_is_down_answers_503_in_spanish_with_retry_after(name, backend, keys):
    url = UNREACHABLE[backend].format(name=name, port=free_port())
    app = _app(name, url, keys)
    async with LifespanManager(app, startup_timeout=30, shutdown_timeout=30) as manager:
        # an exception that escaped the app would be raised here: the outage must be answered, not crash
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=30) as client:
            for method, path, role, body in CALLS[name]:
                headers = keys.headers(role, producer_id=1) if role == "producer" else (
                    keys.headers(role) if role else {})
                if method == "POST":
                    headers["Idempotency-Key"] = uuid.uuid4().hex
                answer = await client.request(method, path, json=body, headers=headers)
                assert answer.status_code == 503, (method, path, answer.status_code, answer.text[:300])
                assert answer.headers["retry-after"] == "5"
                error = answer.json()["error"]
                assert error["code"] == "database_unavailable"
                assert "intente de nuevo" in error["message"] and "base de datos" in error["message"]
    await app.state.db.dispose()
