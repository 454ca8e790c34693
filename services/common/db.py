"""Async engine and request-scoped sessions: commit on success, roll back on any error.

SQLite (aiosqlite) is the embedded default, PostgreSQL (asyncpg) the real deployment. Each service
declares its tables on its own registry (`service_base()`), never on the global SQLModel metadata,
so the four services' migrations never mix.
"""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from sqlalchemy import MetaData, event
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import registry
from sqlalchemy.pool import QueuePool
from sqlalchemy.util import greenlet_spawn
from sqlmodel import SQLModel

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def service_base(name: str) -> type[SQLModel]:
    """A SQLModel base class bound to a fresh registry and metadata for one service."""
    reg = registry(metadata=MetaData(naming_convention=NAMING_CONVENTION))
    return type(f"{name.title()}Base", (SQLModel,), {"__module__": __name__}, registry=reg)


def normalize_url(url: str) -> str:
    """Accept plain `postgresql://` and `sqlite:///` URLs and pick the async drivers."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url.split(":///", 1)[1]
    return url


def is_sqlite(url: str) -> bool:
    """For a database URL; a Database answers `.is_sqlite` from its engine's dialect."""
    return str(url).startswith("sqlite")


def make_engine(url: str, *, pool_size: int = 10, max_overflow: int | None = None, echo: bool = False) -> AsyncEngine:
    url = normalize_url(url)
    if is_sqlite(url):
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})
        _make_sqlite_transactional(engine)
        return engine
    overflow = pool_size * 2 if max_overflow is None else max_overflow
    return create_async_engine(url, echo=echo, pool_size=pool_size, max_overflow=overflow, pool_timeout=30,
                               pool_pre_ping=False, pool_recycle=1800)


def _make_sqlite_transactional(engine: AsyncEngine) -> None:
    """Let SQLAlchemy own SQLite transactions (so SAVEPOINTs work) and take the write lock up front.

    `BEGIN IMMEDIATE` makes concurrent writers queue on the busy timeout instead of failing with
    "database is locked" when a reader upgrades; WAL lets readers run beside the writer.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _nothing() -> None:
    return None


class Standalone:
    """Statements sent straight to asyncpg (`Database.standalone`): `$1`-style parameters, each
    statement prepared once per connection by asyncpg's cache, JSON parameters as text. A statement
    that writes to the outbox says so with `events_emitted = True`, so the relay wakes after it."""

    __slots__ = ("_count", "connection", "events_emitted")

    def __init__(self, connection, db: "Database"):
        self.connection = connection
        self._count = db.count_statement
        self.events_emitted = False

    async def fetch(self, query: str, *args) -> list:
        self._count()
        return await self.connection.fetch(query, *args)

    async def fetchrow(self, query: str, *args):
        self._count()
        return await self.connection.fetchrow(query, *args)


class Database:
    """An engine and the sessions made from it. Tests bind one to a connection inside a transaction."""

    def __init__(self, engine: AsyncEngine, *, bind: AsyncConnection | None = None, owns_engine: bool = True):
        self.engine = engine
        self.owns_engine = owns_engine
        if bind is not None:
            self.sessionmaker = async_sessionmaker(bind=bind, expire_on_commit=False,
                                                   join_transaction_mode="create_savepoint")
        else:
            self.sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        self.bind = bind
        # counts each statement sent outside SQLAlchemy (`standalone`); the metrics set it
        self.count_statement: Callable[[], None] = _nothing
        # called after standalone statements that wrote events to the outbox (the relay wakes up)
        self.after_emit: list[Callable[[], None]] = []

    @classmethod
    def from_url(cls, url: str, **kw) -> "Database":
        return cls(make_engine(url, **kw))

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A unit of work: committed when the block ends normally, rolled back on any exception."""
        async with self.sessionmaker() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    @asynccontextmanager
    async def standalone(self) -> AsyncIterator["Standalone | None"]:
        """PostgreSQL's own connection for a hot path written as statements that each stand alone:
        every statement is atomic and commits by itself, with no BEGIN/COMMIT round trips and no
        ORM or SQLAlchemy work on the way (a session's transaction costs ~0.4 ms of CPU before its
        first statement; a statement here ~0.1 ms). Yields None on SQLite: the caller takes its
        portable path, which must answer the same. A database bound to a test's outer transaction
        gives that transaction's connection, so the statements join it."""
        if self.is_sqlite:
            yield None
            return
        if self.bind is not None:
            raw = await self.bind.get_raw_connection()
            async with raw.dbapi_connection._execute_mutex:  # the session's adapter serializes use the same way
                yield Standalone(raw.driver_connection, self)
            return
        fairy = await self.engine.raw_connection()
        statements = Standalone(fairy.driver_connection, self)
        try:
            yield statements
        except BaseException as exc:
            from services.common.errors import database_unavailable

            if database_unavailable(exc) or fairy.driver_connection.is_closed():
                await greenlet_spawn(fairy.invalidate, exc if isinstance(exc, Exception) else None)
            await greenlet_spawn(fairy.close)
            raise
        pool = self.engine.sync_engine.pool
        if isinstance(pool, QueuePool) and pool.overflow() <= 0:
            fairy.close()  # back into the pool, synchronously: nothing to roll back, nothing closed
        else:  # the pool may close it (an overflow connection), which awaits asyncpg
            await greenlet_spawn(fairy.close)
        if statements.events_emitted:
            for wake in self.after_emit:
                wake()

    async def dispose(self) -> None:
        if self.owns_engine:
            await self.engine.dispose()
