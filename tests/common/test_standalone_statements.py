"""`Database.standalone()`: a hot path's statements sent straight to asyncpg, each atomic and
committed by itself, on PostgreSQL; None on SQLite (the caller's session path runs)."""

import asyncio
import logging

import asyncpg
import pytest

from services.common.db import Database, make_engine
from tests.conftest import PG_ADMIN_URL, require_postgres


def _pg_url() -> str:
    return PG_ADMIN_URL.replace("postgresql://", "postgresql+asyncpg://", 1)


async def test_sqlite_has_no_standalone_statements(tmp_path):
    db = Database(make_engine(f"sqlite:///{tmp_path}/x.db"))
    async with db.standalone() as statements:
        assert statements is None
    await db.dispose()


async def test_each_statement_commits_by_itself_is_counted_and_a_failed_one_leaves_nothing():
    require_postgres()
    db = Database(make_engine(_pg_url(), pool_size=2, max_overflow=0))
    counted, woken = [], []
    db.count_statement = lambda: counted.append(1)
    db.after_emit.append(lambda: woken.append(1))
    table = f"standalone_probe_{id(db)}"
    try:
        async with db.standalone() as statements:
            await statements.fetch(f"CREATE TABLE {table} (id int PRIMARY KEY, n int NOT NULL)")
            await statements.fetchrow(f"INSERT INTO {table} VALUES (1, 1)")
        with pytest.raises(asyncpg.UniqueViolationError):
            async with db.standalone() as statements:
                # one statement: the first row and the repeated key fail together
                await statements.fetchrow(f"INSERT INTO {table} VALUES (2, 2), (1, 3)")
        async with db.standalone() as statements:
            rows = await statements.fetch(f"SELECT id, n FROM {table} ORDER BY id")
            statements.events_emitted = True
        assert [tuple(r) for r in rows] == [(1, 1)]  # seen from another connection: committed, and only that
        async with db.session() as session:  # the connection went back to the pool in a usable state
            from sqlalchemy import text

            assert (await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one() == 1
        assert len(counted) == 4 and woken == [1]
    finally:
        async with db.standalone() as statements:
            await statements.fetch(f"DROP TABLE IF EXISTS {table}")
        await db.dispose()


async def test_overflow_connections_go_back_closed_properly_and_a_lost_one_is_not_reused(caplog):
    """An overflow connection the pool closes on return needs asyncpg's close to be awaited (a
    synchronous return logged 'Exception closing connection' and leaked it); a connection that died
    under a statement is invalidated, and the next one works."""
    require_postgres()
    db = Database(make_engine(_pg_url(), pool_size=1, max_overflow=3))
    try:
        async def one(i: int):
            async with db.standalone() as statements:
                return (await statements.fetchrow("SELECT pg_sleep(0.05), $1::int AS i", i))["i"]

        with caplog.at_level(logging.ERROR, logger="sqlalchemy.pool"):
            assert sorted(await asyncio.gather(*[one(i) for i in range(4)])) == [0, 1, 2, 3]
        assert not [r for r in caplog.records if "closing connection" in r.getMessage()]
        pool = db.engine.sync_engine.pool
        assert (pool.checkedout(), pool.overflow()) == (0, 0)

        with pytest.raises((asyncpg.exceptions.AdminShutdownError, asyncpg.exceptions.ConnectionDoesNotExistError)):
            async with db.standalone() as statements:
                await statements.fetchrow("SELECT pg_terminate_backend(pg_backend_pid())")
        assert await one(7) == 7
    finally:
        await db.dispose()
