"""Public reads answered from memory, and revalidated by phones with an ETag.

A catalogue page is read far more often than it changes. `ReadCache` keeps the encoded answers of
such reads in this process for a few seconds and drops them all as soon as this process commits a
write to its database (any statement other than a read, seen on the engine), so a price or stock
change is visible at once to the next read here; another worker of the same service sees it at the
latest when the entry's time runs out (`ttl`). Entries are bounded in number (the query string is
the client's to choose), and an answer computed while a write committed is not kept.

`conditional_json` sends an encoded answer with a strong ETag and `Cache-Control: public, no-cache`
(a browser keeps it and asks again each time); a request whose If-None-Match names the ETag gets
304 with no body: a phone on costly data downloads nothing that did not change.
"""

import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass

from fastapi import Request, Response
from pydantic import BaseModel
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

READS = ("SELECT", "BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK", "PRAGMA", "SHOW", "SET ")
PUBLIC = "public, no-cache"


def encoded(model: BaseModel) -> bytes:
    """A response model as the JSON FastAPI would send for it."""
    return model.__pydantic_serializer__.to_json(model)


def etag_of(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


@dataclass(frozen=True, slots=True)
class Cached:
    body: bytes
    etag: str
    until: float


class ReadCache:
    def __init__(self, *, ttl: float = 2.0, max_entries: int = 512):
        self.ttl = ttl
        self.max_entries = max_entries
        self.entries: OrderedDict[object, Cached] = OrderedDict()
        self.generation = 0  # moves on every committed write; an answer read across a move is not kept
        self.listeners: list[tuple] = []

    def watch(self, engine: AsyncEngine) -> None:
        """Drop every entry when a transaction (or, in tests, a savepoint) that wrote commits on this
        engine."""

        def noted(conn, _cursor, statement, *_):
            if not statement.lstrip()[:9].upper().startswith(READS):
                conn.info["wrote"] = True

        def committed(conn, *_):
            if _pop_wrote(conn):
                self.clear()
                conn.info["committed_write"] = True

        def rolled_back(conn):
            _pop_wrote(conn)

        def returned(_dbapi_connection, record):
            # the commit event comes before the COMMIT reaches the database: an answer read meanwhile
            # is dropped once the connection is back in the pool, after the commit
            if record is not None and record.info.pop("committed_write", False):
                self.clear()

        target = engine.sync_engine
        self.listeners = [(target, "after_cursor_execute", noted), (target, "commit", committed),
                          (target, "release_savepoint", committed), (target, "rollback", rolled_back),
                          (target, "checkin", returned)]
        for listener in self.listeners:
            event.listen(*listener)

    def unwatch(self) -> None:
        for listener in self.listeners:
            event.remove(*listener)
        self.listeners = []
        self.clear()

    def clear(self) -> None:
        self.generation += 1
        self.entries.clear()

    def get(self, key) -> Cached | None:
        cached = self.entries.get(key)
        if cached is None:
            return None
        if cached.until < time.monotonic():
            del self.entries[key]
            return None
        return cached

    def put(self, key, body: bytes, generation: int) -> Cached:
        """Keep `body` for `key` unless a write committed since `generation` was read."""
        cached = Cached(body, etag_of(body), time.monotonic() + self.ttl)
        if self.ttl > 0 and generation == self.generation:
            self.entries[key] = cached
            if len(self.entries) > self.max_entries:
                self.entries.popitem(last=False)
        return cached


def _pop_wrote(conn) -> bool:
    """Whether the transaction ending on `conn` wrote. A connection the database dropped (a restart)
    has no info left to read; its transaction is lost anyway, so nothing was written."""
    if conn.invalidated:
        return False
    try:
        return bool(conn.info.pop("wrote", False))
    except Exception:  # never turn a lost connection into a crash of the request
        return False


def _matches(request: Request, etag: str) -> bool:
    header = request.headers.get("if-none-match")
    if not header:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in tags or etag in tags


def conditional_json(request: Request, body: bytes, etag: str | None = None) -> Response:
    """`body` (encoded JSON) with its ETag, or 304 when the client already holds it."""
    etag = etag or etag_of(body)
    headers = {"ETag": etag, "Cache-Control": PUBLIC}
    if _matches(request, etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


def query_key(request: Request) -> tuple:
    """The same query in any parameter order is one entry."""
    return (request.url.path, tuple(sorted(request.query_params.multi_items())))
