"""The forwarding fast path: `/api/<service>/...` goes to that service with the prefix stripped.

Pure ASGI in front of FastAPI (no routing, no body parsing) over ONE pooled aiohttp session that
every request reuses; on a 2-core machine an aiohttp-based proxy forwarded ~8x what an httpx-based
one did (see bench/gateway.py). Hop-by-hop headers and any incoming service credential are dropped,
`X-Request-ID` is set, and connect/total timeouts are explicit: a service that is down or too slow
answers 503 in the JSON error shape within the timeout, never a hang and never a 500.
Services' `/internal/...` and `/metrics` are never reachable from outside (404). The gateway's own
routes (accounts, pages, monitoring) get the same body limit as forwarded requests: 413 before the
body is read when `Content-Length` says so, and as soon as a streamed body goes over it.
"""

import logging
from collections.abc import Callable, Mapping, Sequence

import aiohttp
import orjson
from starlette.exceptions import HTTPException
from yarl import URL

from services.common.errors import error_body
from services.common.observability import request_id_var

log = logging.getLogger("mercado.proxy")

HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te",
                        b"trailer", b"trailers", b"transfer-encoding", b"upgrade", b"proxy-connection"})
# not forwarded to a service: hop-by-hop, what the client library sets itself, what only services
# may send each other, and what the gateway sets
DROP_REQUEST = HOP_BY_HOP | {b"host", b"content-length", b"x-service-key", b"x-service-name", b"x-request-id",
                             b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"x-forwarded-prefix"}
# not passed back: hop-by-hop, and what the gateway's server and middleware add themselves
DROP_RESPONSE = HOP_BY_HOP | {b"x-request-id", b"date", b"server"}
PRIVATE_FIRST_SEGMENTS = frozenset({"internal", "metrics"})
BUFFER_LIMIT = 1024 * 1024  # answers up to this size are read whole (one send); larger ones stream


def make_session(*, connect_timeout: float, total_timeout: float, max_connections: int) -> aiohttp.ClientSession:
    """The one forwarding client of a gateway process."""
    connector = aiohttp.TCPConnector(
        limit=max_connections, limit_per_host=0, ttl_dns_cache=300,
        keepalive_timeout=4.0,  # below uvicorn's 5 s, so we never reuse a connection it is closing
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=total_timeout, connect=connect_timeout),
        cookie_jar=aiohttp.DummyCookieJar(),  # never keep one client's cookies for the next
        auto_decompress=False,  # bytes pass through as the service encoded them
        skip_auto_headers=("Accept-Encoding", "User-Agent", "Content-Type"),
        raise_for_status=False,
    )


class ClientGone(Exception):
    """The client disconnected before its request body arrived."""


class BodyTooLarge(HTTPException):
    """A body over the limit, raised while an own route reads it (answered 413 in the error shape)."""

    def __init__(self, limit: int):
        super().__init__(413, f"the request body is over {limit} bytes")


def _declared_length(scope) -> int | None:
    for key, value in scope["headers"]:
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _json_error(status: int, code: str, message: str, details: dict | None = None,
                extra: list[tuple[bytes, bytes]] = ()) -> tuple[dict, dict]:
    body = orjson.dumps(error_body(code, message, details))
    return ({"type": "http.response.start", "status": status,
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                         *extra]},
            {"type": "http.response.body", "body": body})


def is_private(rest: str) -> bool:
    """True for paths no outsider may reach, however they are spelled (`//internal`, `/x/../internal`)."""
    segments = [s for s in rest.split("/") if s and s != "."]
    if ".." in segments:
        return True  # never let a proxy or the service normalise its way into another path
    return bool(segments) and segments[0].lower() in PRIVATE_FIRST_SEGMENTS


class ServiceProxy:
    """ASGI middleware: forwards `/api/<name>/...` for the services it knows, passes the rest on."""

    def __init__(self, app, *, services: Mapping[str, str], session_of, max_body_bytes: int,
                 after_writes: Sequence[tuple[str, str, Callable[[dict], None]]] = ()):
        self.app = app
        self.targets = {name: url.rstrip("/") for name, url in services.items()}
        self.prefixes = {name: f"/api/{name}" for name in services}
        self.session_of = session_of  # scope -> aiohttp.ClientSession (created at start-up)
        self.max_body = max_body_bytes
        # (service, path prefix, callback): told after a write there succeeded, so what the gateway
        # keeps of it (the fair-price watch's reference prices) is dropped at once
        self.after_writes = tuple(after_writes)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path: str = scope["path"]
        if not path.startswith("/api/"):
            return await self._own_route(scope, receive, send)
        name = path[5:].partition("/")[0]
        base = self.targets.get(name)
        if base is None:
            return await self._own_route(scope, receive, send)
        rest = path[len(self.prefixes[name]):] or "/"
        scope["mc_route"] = f"/api/{name}"  # metrics label: one series per service, not per path
        if is_private(rest):
            start, body = _json_error(404, "not_found", "no such resource or route")
            await send(start)
            return await send(body)
        watchers = [tell for service, prefix, tell in self.after_writes
                    if service == name and rest.startswith(prefix)] if scope["method"] != "GET" else []
        if not watchers:
            return await self._forward(scope, receive, send, name, base, rest)
        status = [0]

        async def noting_status(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        await self._forward(scope, receive, noting_status, name, base, rest)
        if 200 <= status[0] < 300:
            for tell in watchers:
                tell(scope)

    async def _own_route(self, scope, receive, send) -> None:
        """The gateway's own routes, with the body limit applied to what they read."""
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_body:
            start, payload = _json_error(413, "payload_too_large", f"the request body is over {self.max_body} bytes")
            await send(start)
            return await send(payload)
        received = 0
        started = False

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    raise BodyTooLarge(self.max_body)
            return message

        async def noting_send(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, noting_send)
        except BodyTooLarge:  # read outside FastAPI's handlers (a middleware): answered here
            if started:
                raise
            start, payload = _json_error(413, "payload_too_large", f"the request body is over {self.max_body} bytes")
            await send(start)
            await send(payload)

    async def _read_body(self, receive) -> bytes | None:
        """The whole request body, or None when it is over the limit. Raises ClientGone."""
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        body = message.get("body", b"")
        if len(body) > self.max_body:
            return None
        if not message.get("more_body", False):
            return body
        chunks = [body]
        size = len(body)
        while message.get("more_body", False):
            message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    def _upstream_url(self, scope, name: str, base: str, rest: str) -> URL:
        raw = scope.get("raw_path")
        prefix = self.prefixes[name].encode()
        raw_rest = (raw[len(prefix):].decode("latin-1") or "/") if raw and raw.startswith(prefix) else ""
        if not raw_rest.startswith("/"):  # the prefix itself was spelled with escapes
            raw_rest = str(URL.build(path=rest))
        query = scope.get("query_string", b"")
        target = base + raw_rest
        if query:
            target += "?" + query.decode("latin-1")
        return URL(target, encoded=True)

    def _public_location(self, name: str, base: str, location: bytes) -> bytes:
        """A redirect to the service's own address or path, as the client must follow it: through
        the gateway, under the service's prefix."""
        text = location.decode("latin-1")
        if text.startswith(base + "/") or text == base:
            text = self.prefixes[name] + (text[len(base):] or "/")
        elif text.startswith("/") and not text.startswith("//"):
            text = self.prefixes[name] + text
        return text.encode("latin-1")

    def _request_headers(self, scope, name: str) -> list[tuple[str, str]]:
        headers = []
        forwarded_for = None
        host = None
        connection_named: set[bytes] = set()
        for key, value in scope["headers"]:
            if key == b"connection":
                connection_named = {v.strip().lower().encode() for v in value.decode("latin-1").split(",")}
        for key, value in scope["headers"]:
            if key in DROP_REQUEST or key in connection_named:
                if key == b"x-forwarded-for":
                    forwarded_for = value.decode("latin-1")
                elif key == b"host":
                    host = value.decode("latin-1")
                continue
            headers.append((key.decode("latin-1"), value.decode("latin-1")))
        client = scope.get("client")
        address = client[0] if client else "unknown"
        headers.append(("X-Request-ID", request_id_var.get()))
        headers.append(("X-Forwarded-For", f"{forwarded_for}, {address}" if forwarded_for else address))
        headers.append(("X-Forwarded-Proto", scope.get("scheme", "http")))
        headers.append(("X-Forwarded-Prefix", self.prefixes[name]))
        if host:
            headers.append(("X-Forwarded-Host", host))
        return headers

    async def _forward(self, scope, receive, send, name: str, base: str, rest: str) -> None:
        try:
            body = await self._read_body(receive)
        except ClientGone:
            return  # nobody to answer, and nothing to forward on their behalf
        if body is None:
            start, payload = _json_error(413, "payload_too_large",
                                         f"the request body is over {self.max_body} bytes")
            await send(start)
            return await send(payload)
        session: aiohttp.ClientSession = self.session_of(scope)
        started = False
        try:
            async with session.request(scope["method"], self._upstream_url(scope, name, base, rest),
                                       headers=self._request_headers(scope, name), data=body or None,
                                       allow_redirects=False) as upstream:
                headers = [(k.lower(), v) for k, v in upstream.raw_headers if k.lower() not in DROP_RESPONSE]
                if 300 <= upstream.status < 400:
                    headers = [(k, self._public_location(name, base, v) if k == b"location" else v)
                               for k, v in headers]
                length = upstream.content_length
                if length is not None and length <= BUFFER_LIMIT:
                    payload = await upstream.read()
                    started = True
                    await send({"type": "http.response.start", "status": upstream.status, "headers": headers})
                    return await send({"type": "http.response.body", "body": payload})
                started = True
                await send({"type": "http.response.start", "status": upstream.status, "headers": headers})
                async for chunk in upstream.content.iter_chunked(64 * 1024):
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b""})
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            if isinstance(exc, TimeoutError):
                reason, text = "timeout", "did not answer in time"
            elif isinstance(exc, aiohttp.ClientConnectionError):
                reason, text = "unreachable", "is not answering"
            else:  # an answer we cannot pass on, or a request aiohttp refuses to send
                reason, text = "bad_answer", "could not be reached properly"
                log.exception("forwarding to %s failed", name)
            log.warning("forwarding to %s failed", name, extra={"error": repr(exc), "reason": reason})
            if started:
                return  # the answer was under way: the server closes the connection, the client sees it cut
            start, payload = _json_error(503, "service_unavailable", f"the {name} service {text}; try again shortly",
                                         {"service": name, "reason": reason}, [(b"retry-after", b"1")])
            await send(start)
            await send(payload)
