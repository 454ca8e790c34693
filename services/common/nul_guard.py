"""The NUL character never reaches a database: PostgreSQL cannot store it in text (a 500 otherwise).

ASGI middleware, innermost in every service and the gateway. A path or query string holding NUL is
answered 422 at once; a JSON body is checked as FastAPI reads it (chunk by chunk, no extra copy),
and one holding the escape `\\u0000` is a 422 too. Other bodies (photos) are left alone.
"""

import re

from fastapi import HTTPException

from services.common.errors import error_body

MESSAGE = "text cannot contain the NUL character (\\u0000); remove it and send the request again"
# the JSON escape \u0000, not preceded by an odd number of backslashes (that would be a literal "\u0000")
_ESCAPED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
_TAIL = 16  # bytes of the previous chunk kept, so an escape split across chunks is seen


class NulGuard:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if "\x00" in scope["path"] or b"%00" in scope.get("query_string", b"") or b"\x00" in scope.get(
                "query_string", b""):
            return await _refuse(send)
        if not any(name == b"content-type" and b"json" in value.lower() for name, value in scope["headers"]):
            return await self.app(scope, receive, send)
        tail = b""

        async def checked_receive():
            nonlocal tail
            message = await receive()
            chunk = message.get("body", b"")
            if chunk:
                if _ESCAPED_NUL.search(tail + chunk):
                    raise HTTPException(status_code=422, detail=MESSAGE)
                tail = (tail + chunk)[-_TAIL:]
            return message

        return await self.app(scope, checked_receive, send)


async def _refuse(send) -> None:
    import orjson

    payload = orjson.dumps(error_body("validation_error", MESSAGE))
    await send({"type": "http.response.start", "status": 422, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})
