"""One domain error type, and the handlers that turn every failure into the API's JSON error shape.

`{"error": {"code": "...", "message": "...", "details": {...}}}` with the right status. Routers never
build error responses by hand: they raise `DomainError` (or a subclass) and the handlers answer.

A database that cannot be reached (down, restarting, its file unreadable, its pool exhausted) is not a
bug of the request: the answer is 503 `database_unavailable` with a Spanish message and Retry-After,
never a 500, wherever it is found (a route, a dependency or a middleware such as idempotency keys).
The transaction was not committed, so nothing is left half done; the client tries again.
"""

import logging
from typing import Any

import orjson
import sqlalchemy.exc
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

log = logging.getLogger("mercado.errors")


class DomainError(Exception):
    """A failure the client can understand and act on. Subclasses fix `status` and `code`."""

    status: int = 400
    code: str = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 details: dict[str, Any] | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.details = details or {}
        self.headers = headers or {}


class NotFound(DomainError):
    status, code = 404, "not_found"


class Conflict(DomainError):
    status, code = 409, "conflict"


class InvalidInput(DomainError):
    status, code = 422, "invalid_input"


class Unauthorized(DomainError):
    status, code = 401, "unauthorized"


class Forbidden(DomainError):
    status, code = 403, "forbidden"


class ServiceUnavailable(DomainError):
    status, code = 503, "service_unavailable"


class RateLimited(DomainError):
    status, code = 429, "rate_limited"


class JsonResponse(Response):
    """JSON rendered with orjson (fast, exact for Decimal-as-string shapes)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None) -> JsonResponse:
    return JsonResponse(error_body(code, message, details), status_code=status, headers=headers)


DATABASE_RETRY_AFTER_SECONDS = 5
DATABASE_UNAVAILABLE_MESSAGE = ("Los datos no están disponibles en este momento (la base de datos no responde); "
                                "intente de nuevo en unos segundos.")
# asyncpg's own errors when a connection cannot be made or was lost (not wrapped when connecting)
_LOST_CONNECTION_NAMES = frozenset({"ConnectionDoesNotExistError", "CannotConnectNowError", "ConnectionFailureError",
                                    "ConnectionRejectionError", "AdminShutdownError", "CrashShutdownError",
                                    "TooManyConnectionsError", "InterfaceError"})


def database_unavailable(exc: BaseException) -> bool:
    """True when `exc` says the database cannot be used right now (as opposed to a bug or bad data)."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated:
            return True
        if isinstance(exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError
                      | sqlalchemy.exc.TimeoutError | ConnectionError | TimeoutError):
            return True
        if type(exc).__module__.startswith("asyncpg") and type(exc).__name__ in _LOST_CONNECTION_NAMES:
            return True
        exc = getattr(exc, "orig", None) or exc.__cause__
    return False


def database_unavailable_response() -> "JsonResponse":
    return error_response(503, "database_unavailable", DATABASE_UNAVAILABLE_MESSAGE,
                          headers={"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)})


class DatabaseOutage:
    """Pure ASGI, outside the idempotency middleware: a database that cannot be reached, raised
    anywhere below (that middleware, a route, a dependency), is answered 503 here, before it can
    reach the server as a crash. Once an answer has started it can only be cut."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message):
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            if started or not database_unavailable(exc):
                raise
            log.warning("database unavailable on %s %s: %r", scope.get("method"), scope.get("path"), exc)
            await database_unavailable_response()(scope, receive, send)


def _describe_validation(errors: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    problems = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body",)]
        field = ".".join(loc) or "body"
        msg = err.get("msg", "invalid")
        if err.get("type") == "json_invalid":
            ctx = err.get("ctx") or {}
            msg = f"malformed JSON: {ctx.get('error', 'cannot be parsed')}"
            field = "body"
        problems.append({"field": field, "message": msg})
    summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems[:5])
    return summary or "invalid request", problems


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized", 403: "forbidden",
               413: "payload_too_large", 415: "unsupported_media_type", 422: "validation_error"}


CLIENT_CLOSED_REQUEST = 499  # the status proxies log for a caller that hung up first


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_: Request, exc: DomainError):
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError):
        summary, problems = _describe_validation(exc.errors())
        return error_response(422, "validation_error", summary, {"problems": problems})

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException):
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        if exc.status_code == 404 and message == "Not Found":
            message = "no such resource or route"
        return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))

    async def _database(request: Request, exc: Exception):
        if not database_unavailable(exc):
            raise exc  # a bug, not an outage: the 500 below
        log.warning("database unavailable on %s %s: %r", request.method, request.url.path, exc)
        return database_unavailable_response()

    for kind in (sqlalchemy.exc.DBAPIError, sqlalchemy.exc.TimeoutError, ConnectionError, TimeoutError):
        app.add_exception_handler(kind, _database)

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, _exc: ClientDisconnect):
        # the caller hung up before its body arrived (a relay's call timed out, a phone lost its signal):
        # nothing was done and nobody reads an answer; not an error of ours, so no traceback, no 500
        log.info("the client went away before its request was read: %s %s", request.method, request.url.path)
        return Response(status_code=CLIENT_CLOSED_REQUEST)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        if database_unavailable(exc):  # raised outside the routes (a middleware), or asyncpg's own
            log.warning("database unavailable on %s %s: %r", request.method, request.url.path, exc)
            return database_unavailable_response()
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "unexpected error; it has been logged")
