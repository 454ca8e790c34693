"""Kernel tables every service carries in its own database: outbox, inbox, incoming events, idempotency keys.

They are plain SQLAlchemy tables added to a service's own metadata by `kernel_tables(metadata)`, so
each service's migrations create them, and the code that uses them is written once here.
"""

from dataclasses import dataclass

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    or_,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.clock import now as utcnow  # noqa: F401  (the one clock; MC_TODAY moves it)
from services.common.timestamps import UtcDateTime

BigId = BigInteger().with_variant(Integer, "sqlite")


@dataclass(frozen=True)
class KernelTables:
    outbox: Table
    inbox: Table
    idempotency: Table
    #: Events received and not yet handled (and the parked ones): see services/common/incoming.py.
    incoming: Table | None = None


def kernel_tables(metadata: MetaData) -> KernelTables:
    outbox = Table(
        "outbox", metadata,
        Column("id", BigId, primary_key=True, autoincrement=True),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("event_type", String(64), nullable=False),
        Column("version", Integer, nullable=False, server_default=text("1")),
        Column("aggregate_id", String(64), nullable=False),
        Column("occurred_at", UtcDateTime(), nullable=False),
        Column("payload", JSON, nullable=False),
        Column("attempts", Integer, nullable=False, server_default=text("0")),
        Column("next_attempt_at", UtcDateTime(), nullable=True),
        Column("published_at", UtcDateTime(), nullable=True),
        Column("last_error", Text, nullable=True),
        Index("ix_outbox_pending", "aggregate_id", "id",
              postgresql_where=text("published_at IS NULL"), sqlite_where=text("published_at IS NULL")),
    )
    inbox = Table(
        "inbox", metadata,
        Column("event_id", String(36), primary_key=True),
        Column("event_type", String(64), nullable=False),
        Column("aggregate_id", String(64), nullable=False),
        Column("handled_at", UtcDateTime(), nullable=False),
    )
    idempotency = Table(
        "idempotency_keys", metadata,
        Column("id", BigId, primary_key=True, autoincrement=True),
        Column("scope", String(64), nullable=False),
        Column("key", String(255), nullable=False),
        Column("request_hash", String(64), nullable=False),
        Column("status_code", Integer, nullable=True),
        Column("response_body", LargeBinary, nullable=True),
        Column("content_type", String(128), nullable=True),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("locked_until", UtcDateTime(), nullable=False),
        UniqueConstraint("scope", "key"),
    )
    incoming = Table(
        "incoming_events", metadata,
        Column("id", BigId, primary_key=True, autoincrement=True),  # arrival order
        Column("event_id", String(36), nullable=False, unique=True),
        Column("source", String(32), nullable=False),
        Column("event_type", String(64), nullable=False),
        Column("version", Integer, nullable=False, server_default=text("1")),
        Column("aggregate_id", String(64), nullable=False),
        Column("occurred_at", UtcDateTime(), nullable=False),
        Column("payload", JSON, nullable=False),
        Column("received_at", UtcDateTime(), nullable=False),
        Column("attempts", Integer, nullable=False, server_default=text("0")),
        Column("next_attempt_at", UtcDateTime(), nullable=True),
        Column("last_error", Text, nullable=True),
        Column("parked_at", UtcDateTime(), nullable=True),
        Index("ix_incoming_events_aggregate", "source", "aggregate_id", "id"),
    )
    return KernelTables(outbox=outbox, inbox=inbox, idempotency=idempotency, incoming=incoming)


def _dialect_insert(session: AsyncSession, table: Table):
    if session.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def insert_ignoring_conflict(session: AsyncSession, table: Table):
    """`INSERT ... ON CONFLICT DO NOTHING` in the session's dialect (SQLite or PostgreSQL)."""
    return _dialect_insert(session, table).on_conflict_do_nothing()


def upsert_known(session: AsyncSession, table: Table, *, key: dict, known: dict):
    """One statement: insert the row `key` + `known`, or, when a row with that key exists, set the
    `known` columns that differ (nothing is written when the row already says so, and a column not
    in `known` keeps what it has)."""
    statement = _dialect_insert(session, table).values(**key, **known)
    if not known:
        return statement.on_conflict_do_nothing(index_elements=list(key))
    return statement.on_conflict_do_update(
        index_elements=list(key), set_={name: statement.excluded[name] for name in known},
        where=or_(*[table.c[name].is_distinct_from(statement.excluded[name]) for name in known]))
