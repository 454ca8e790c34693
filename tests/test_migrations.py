"""Upgrading an empty database to head gives exactly the tables the models declare."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from services.common.db import make_engine
from services.common.migrations import ALL, head_revision, metadata_of, version_table


@pytest.mark.parametrize("service", ALL)
async def test_migrations_at_head_match_the_models(service, backend, migrated):
    engine = make_engine(migrated.url(service, backend))

    def _diff(sync_conn):
        ctx = MigrationContext.configure(sync_conn, opts={
            "compare_type": True, "version_table": version_table(service),
            "include_object": lambda obj, name, type_, reflected, compare_to: not (
                type_ == "table" and name.startswith("alembic_version_")),
        })
        return ctx.get_current_revision(), compare_metadata(ctx, metadata_of(service))

    try:
        async with engine.connect() as conn:
            current, diff = await conn.run_sync(_diff)
    finally:
        await engine.dispose()
    assert current == head_revision(service)
    assert diff == [], f"{service}: models and migrations differ: {diff}"
