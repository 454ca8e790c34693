"""Async engine and request-scoped sessions: commit on success, roll back on any error.

SQLite (aiosqlite) is the embedded default, PostgreSQL (asyncpg) the real deployment. Each service
declares its tables on its own registry (`service_base()`), never on the global SQLModel metadata,
so the four services' migrations never mix.
"""

from collections.abc import AsyncIterator
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


def is_sqlite(url_or_engine) -> bool:
    url = str(getattr(url_or_engine, "url", url_or_engine))
    return url.startswith("sqlite")


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
        self.after_commit_hooks: list = []

    @classmethod
    def from_url(cls, url: str, **kw) -> "Database":
        return cls(make_engine(url, **kw))

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.engine)

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
        for hook in self.after_commit_hooks:
            hook()

    async def dispose(self) -> None:
        if self.owns_engine:
            await self.engine.dispose()
