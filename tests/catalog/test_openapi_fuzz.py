"""Schema fuzzing: whatever schemathesis sends the catalog, no 5xx and no answer outside its schema."""

import asyncio
import tempfile
from pathlib import Path

import pytest
import schemathesis

from infra.demo_world import build_world
from services.catalog.app import create_app
from services.catalog.demo import load_demo
from services.catalog.photos import LocalPhotoStore
from services.common.db import Database
from services.common.migrations import upgrade
from tests.conftest import service_settings
from tests.fuzzing import SCHEMA_CHECKS, bounded

# The app is built at import (schemathesis reads its schema to generate the cases); its database,
# a SQLite file of its own (the fuzzer commits for real), is migrated and seeded by the fixture.
_FOLDER = Path(tempfile.mkdtemp(prefix="catalog-fuzz-"))
_URL = f"sqlite+aiosqlite:///{_FOLDER / 'catalog.db'}"
app = create_app(service_settings("catalog", _URL), photo_store=LocalPhotoStore(_FOLDER / "photos"))
schema = schemathesis.openapi.from_dict(app.openapi())
schema.app = app


async def _seed(url: str) -> None:
    db = Database.from_url(url)
    try:
        await load_demo(db, build_world())
    finally:
        await db.dispose()


@pytest.fixture(scope="module")
def fuzzed_catalog(keys):
    upgrade("catalog", _URL)
    asyncio.run(_seed(_URL))
    app.state.token_verifier = keys.verifier
    return app


@pytest.mark.slow
@schema.parametrize()
@bounded(12)
def test_catalog_answers_every_generated_request_within_its_schema(case, keys, fuzzed_catalog):
    headers = {**keys.headers("admin"), "X-Service-Key": "test-service-secret"}
    response = case.call(headers=headers)
    case.validate_response(response, headers=headers, checks=SCHEMA_CHECKS)
