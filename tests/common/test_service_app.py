"""Every service app shares the kernel: health, error shape, idempotency, the migration check."""

import asyncio

import pytest
from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import func, insert, select

from services.catalog.models import kernel as catalog_kernel
from services.common.app import ServiceSpec, Session, create_service_app
from services.common.db import Database
from services.common.errors import Conflict
from services.common.tables import utcnow
from tests.conftest import app_client, service_settings, transactional_database

SERVICES = ("catalog", "orders", "delivery", "payments")


@pytest.mark.parametrize("service", SERVICES)
async def test_each_service_reports_healthy_database_and_outbox(service, backend, migrated, keys):
    import importlib

    create_app = importlib.import_module(f"services.{service}.app").create_app
    async with transactional_database(migrated.url(service, backend)) as db:
        app = create_app(service_settings(service, migrated.url(service, backend)), database=db,
                         verifier=keys.verifier)
        async with app_client(app) as client:
            r = await client.get("/healthz")
            assert r.status_code == 200
            body = r.json()
            assert body["service"] == service and body["database"] == "ok"
            assert body["database_backend"] == ("sqlite" if backend == "sqlite" else "postgresql")
            assert body["outbox"] == {"pending": 0, "oldest_age_seconds": None}
            missing = await client.get("/no/such/route")
            assert missing.status_code == 404
            assert missing.json()["error"]["code"] == "not_found"
            assert "x-request-id" in missing.headers


class Note(BaseModel):
    text: str


def _probe_app(db: Database, keys, url: str):
    """A service with one mutating route that writes a row, to watch idempotency at work."""
    router = APIRouter()

    @router.post("/notes", status_code=201)
    async def create_note(note: Note, session: Session):
        if note.text == "conflict":
            raise Conflict("refused on purpose", code="refused")
        await session.execute(insert(catalog_kernel.inbox).values(
            event_id=note.text, event_type="probe", aggregate_id="x", handled_at=utcnow()))
        count = (await session.execute(select(func.count()).select_from(catalog_kernel.inbox))).scalar_one()
        return {"text": note.text, "rows": count}

    spec = ServiceSpec(name="catalog", title="probe", description="probe", kernel=catalog_kernel, routers=[router])
    return create_service_app(spec, service_settings("catalog", url), database=db, verifier=keys.verifier)


async def _rows(db: Database) -> int:
    async with db.session() as session:
        return (await session.execute(select(func.count()).select_from(catalog_kernel.inbox))).scalar_one()


async def test_same_idempotency_key_and_body_replays_first_answer_without_doing_it_twice(backend, migrated, keys):
    url = migrated.url("catalog", backend)
    async with transactional_database(url) as db:
        async with app_client(_probe_app(db, keys, url)) as client:
            headers = {"Idempotency-Key": "abc-1", **keys.headers("producer", account_id=7)}
            first = await client.post("/notes", json={"text": "uno"}, headers=headers)
            second = await client.post("/notes", json={"text": "uno"}, headers=headers)
            assert first.status_code == second.status_code == 201
            assert first.json() == second.json() == {"text": "uno", "rows": 1}
            assert second.headers.get("idempotent-replayed") == "true"
            assert await _rows(db) == 1


async def test_same_idempotency_key_with_another_body_is_refused(backend, migrated, keys):
    url = migrated.url("catalog", backend)
    async with transactional_database(url) as db:
        async with app_client(_probe_app(db, keys, url)) as client:
            headers = {"Idempotency-Key": "abc-2", **keys.headers("producer", account_id=7)}
            assert (await client.post("/notes", json={"text": "uno"}, headers=headers)).status_code == 201
            other = await client.post("/notes", json={"text": "dos"}, headers=headers)
            assert other.status_code == 422
            assert other.json()["error"]["code"] == "idempotency_key_reused"
            assert await _rows(db) == 1


async def test_idempotency_keys_are_scoped_per_account(backend, migrated, keys):
    url = migrated.url("catalog", backend)
    async with transactional_database(url) as db:
        async with app_client(_probe_app(db, keys, url)) as client:
            a = await client.post("/notes", json={"text": "a"},
                                  headers={"Idempotency-Key": "k", **keys.headers(account_id=1)})
            b = await client.post("/notes", json={"text": "b"},
                                  headers={"Idempotency-Key": "k", **keys.headers(account_id=2)})
            assert a.status_code == b.status_code == 201
            assert await _rows(db) == 2


async def test_refusals_are_replayed_too_and_malformed_json_is_a_clear_422(backend, migrated, keys):
    url = migrated.url("catalog", backend)
    async with transactional_database(url) as db:
        async with app_client(_probe_app(db, keys, url)) as client:
            headers = {"Idempotency-Key": "c-1"}
            first = await client.post("/notes", json={"text": "conflict"}, headers=headers)
            again = await client.post("/notes", json={"text": "conflict"}, headers=headers)
            assert first.status_code == again.status_code == 409
            assert again.json()["error"]["code"] == "refused"
            bad = await client.post("/notes", content=b'{"text": ', headers={"content-type": "application/json"})
            assert bad.status_code == 422
            assert bad.json()["error"]["code"] == "validation_error"
            assert "JSON" in bad.json()["error"]["message"]
            wrong_type = await client.post("/notes", json={"text": ["no"]})
            assert wrong_type.status_code == 422
            assert "text" in wrong_type.json()["error"]["message"]


async def test_a_caller_that_hangs_up_before_its_body_is_no_error(migrated, keys, capsys):
    """A relay whose call timed out, or a phone that lost its signal, hangs up mid-request: nothing is
    written and nothing is logged as an error (no traceback, no 500 counted)."""
    url = migrated.url("catalog", "sqlite")
    async with transactional_database(url) as db:
        app = _probe_app(db, keys, url)
        async with app_client(app):
            sent = []

            async def receive():
                return {"type": "http.disconnect"}

            async def send(message):
                sent.append(message)

            path = "/internal/events/batch"  # reads its body itself, after the credential check
            scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                     "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
                     "root_path": "", "headers": [(b"content-type", b"application/json"),
                                                  (b"content-length", b"20"),
                                                  (b"x-service-key", app.state.service_secret.encode())],
                     "client": ("127.0.0.1", 1234), "server": ("test", 80), "app": app}
            capsys.readouterr()
            try:
                await app(scope, receive, send)
            except Exception as exc:  # what the server would log as "Exception in ASGI application"
                pytest.fail(f"the hang-up escaped the app: {exc!r}")
        logged = capsys.readouterr().out
        assert sent[0]["status"] == 499
        assert "went away" in logged
        assert '"level":"error"' not in logged and "unhandled error" not in logged
        assert await _rows(db) == 0


async def test_concurrent_repeats_of_one_key_have_one_effect(migrated, keys):
    """On PostgreSQL, 20 simultaneous requests with one key: one row, the rest replay or wait."""
    from tests.conftest import live_database, require_postgres

    require_postgres()
    url = migrated.url("catalog", "postgres")
    async with live_database(url, "catalog") as db:
        async with app_client(_probe_app(db, keys, url)) as client:
            headers = {"Idempotency-Key": "race-1"}
            answers = await asyncio.gather(*[client.post("/notes", json={"text": "race"}, headers=headers)
                                             for _ in range(20)])
            assert {r.status_code for r in answers} <= {201, 409}
            assert sum(r.status_code == 201 for r in answers) >= 1
            assert await _rows(db) == 1


async def test_service_refuses_to_start_on_an_unmigrated_database(tmp_path, keys):
    from services.catalog.app import create_app

    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    app = create_app(service_settings("catalog", url), verifier=keys.verifier)
    with pytest.raises(RuntimeError, match="make migrate"):
        async with app_client(app):
            pass


def test_connection_budget_is_split_among_workers_and_stays_within_a_stock_server():
    from services.catalog.settings import Settings

    def per_worker(workers, **budget):
        return Settings(workers=workers, **budget).pool_per_worker()

    assert per_worker(1, db_pool_size=12, db_max_overflow=4) == (12, 4)
    assert per_worker(2, db_pool_size=12, db_max_overflow=4) == (6, 2)
    assert per_worker(3, db_pool_size=13, db_max_overflow=4) == (5, 2)  # rounded up, not starved
    assert per_worker(8, db_pool_size=12, db_max_overflow=4) == (3, 1)  # never below the floor
    for workers in (1, 2, 3, 4):  # the five processes' defaults under PostgreSQL's max_connections=100
        pool, overflow = Settings(workers=workers).pool_per_worker()
        assert 5 * workers * (pool + overflow) <= 97


async def test_an_app_with_two_workers_opens_half_the_pool(migrated, keys):
    from services.catalog.app import create_app
    from tests.conftest import require_postgres

    require_postgres()
    settings = service_settings("catalog", migrated.url("catalog", "postgres"), workers=2,
                                db_pool_size=12, db_max_overflow=4)
    app = create_app(settings, verifier=keys.verifier)
    async with app_client(app):
        pool = app.state.db.engine.pool
        assert (pool.size(), pool._max_overflow) == (6, 2)
