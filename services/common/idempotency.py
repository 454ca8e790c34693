"""`Idempotency-Key` for every mutating endpoint, as ASGI middleware over the kernel table.

Same key and same request -> the first stored answer, nothing done twice. Same key and another
request -> 422. While the first request is still running, a repeat gets 409 with Retry-After.
Keys are scoped to the caller (account, or anonymous), so two users cannot collide. Answers of 5xx
are not stored: the failed attempt changed nothing (its transaction rolled back) and may be retried.
An endpoint that keeps the key itself, in the transaction of what it writes (a service lists it in
`ServiceSpec.own_idempotency`), is left alone: same key, same request -> the same resource; same key,
another request -> 422 `idempotency_key_reused`; still running -> 409 `idempotency_in_progress`.
"""

import hashlib
from datetime import timedelta

from sqlalchemy import delete, select, update

from services.common.errors import error_body
from services.common.tables import KernelTables, insert_ignoring_conflict, utcnow

MUTATING = {b"POST", b"PUT", b"PATCH", b"DELETE", "POST", "PUT", "PATCH", "DELETE"}
LOCK_SECONDS = 60
MAX_KEY_LENGTH = 255


def _json_response(status: int, body: dict, extra_headers: list[tuple[bytes, bytes]] = ()):
    import orjson

    payload = orjson.dumps(body)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
               *extra_headers]
    return status, headers, payload


class IdempotencyMiddleware:
    def __init__(self, app, *, kernel: KernelTables, own_idempotency: frozenset[tuple[str, str]] = frozenset()):
        self.app = app
        self.kernel = kernel
        self.own_idempotency = own_idempotency

    async def __call__(self, scope, receive, send):
        if (scope["type"] != "http" or scope["method"] not in MUTATING
                or (scope["method"], scope["path"]) in self.own_idempotency):
            return await self.app(scope, receive, send)
        key = None
        for name, value in scope["headers"]:
            if name == b"idempotency-key":
                key = value.decode("latin-1").strip()
                break
        if not key:
            return await self.app(scope, receive, send)
        if len(key) > MAX_KEY_LENGTH:
            return await _send(send, *_json_response(422, error_body(
                "invalid_idempotency_key", f"Idempotency-Key is longer than {MAX_KEY_LENGTH} characters")))

        body = bytearray()
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        body = bytes(body)

        app_state = scope["app"].state if "app" in scope else None
        db = app_state.db
        caller = _caller_scope(scope, app_state)
        digest = hashlib.sha256(b"\0".join([
            scope["method"].encode(), scope["path"].encode(), scope.get("query_string", b""), body,
        ])).hexdigest()

        decision = await self._claim(db, caller, key, digest)
        if decision is not None:
            return await _send(send, *decision)

        captured = {"status": 500, "headers": [], "body": bytearray()}

        async def replay_receive():
            return {"type": "http.request", "body": body, "more_body": False}

        async def capture_send(message):
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                captured["body"] += message.get("body", b"")

        try:
            await self.app(scope, replay_receive, capture_send)
        except BaseException:
            await self._forget(db, caller, key)
            raise
        status = captured["status"]
        content_type = next((v.decode() for k, v in captured["headers"] if k == b"content-type"), None)
        if status >= 500:
            await self._forget(db, caller, key)
        else:
            async with db.session() as session:
                await session.execute(update(self.kernel.idempotency)
                                      .where(self.kernel.idempotency.c.scope == caller,
                                             self.kernel.idempotency.c.key == key)
                                      .values(status_code=status, response_body=bytes(captured["body"]),
                                              content_type=content_type))
        await _send(send, status, captured["headers"], bytes(captured["body"]))

    async def _claim(self, db, caller: str, key: str, digest: str):
        """None when this request may run; otherwise the (status, headers, body) to answer instead."""
        table = self.kernel.idempotency
        now = utcnow()
        async with db.session() as session:
            result = await session.execute(insert_ignoring_conflict(session, table).values(
                scope=caller, key=key, request_hash=digest, created_at=now,
                locked_until=now + timedelta(seconds=LOCK_SECONDS)))
            if result.rowcount == 1:
                return None
            row = (await session.execute(select(table).where(table.c.scope == caller, table.c.key == key))).one()
            if row.request_hash != digest:
                return _json_response(422, error_body(
                    "idempotency_key_reused",
                    "this Idempotency-Key was already used with a different request; use a new key"))
            if row.status_code is not None:
                headers = [(b"idempotent-replayed", b"true")]
                if row.content_type:
                    headers.append((b"content-type", row.content_type.encode()))
                body = row.response_body or b""
                headers.append((b"content-length", str(len(body)).encode()))
                return row.status_code, headers, body
            locked_until = row.locked_until
            if locked_until.tzinfo is None:
                locked_until = locked_until.replace(tzinfo=now.tzinfo)
            if locked_until > now:
                return _json_response(409, error_body(
                    "idempotency_in_progress", "a request with this Idempotency-Key is still running; retry shortly"),
                    [(b"retry-after", b"1")])
            # the first attempt died without an answer: this one takes over
            await session.execute(update(table).where(table.c.id == row.id)
                                  .values(locked_until=now + timedelta(seconds=LOCK_SECONDS)))
            return None

    async def _forget(self, db, caller: str, key: str) -> None:
        table = self.kernel.idempotency
        async with db.session() as session:
            await session.execute(delete(table).where(table.c.scope == caller, table.c.key == key,
                                                      table.c.status_code.is_(None)))


def _caller_scope(scope, app_state) -> str:
    for name, value in scope["headers"]:
        if name == b"authorization":
            token = value.decode("latin-1").partition(" ")[2].strip()
            try:
                return f"acct:{app_state.token_verifier.verify(token).account_id}"
            except Exception:
                return "anonymous"
        if name == b"x-service-name":
            return f"svc:{value.decode('latin-1')[:40]}"
    return "anonymous"


async def _send(send, status: int, headers, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
