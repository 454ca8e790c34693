"""Cursor pagination: `?limit=&cursor=` in, `{"items": [...], "next_cursor": ...}` out.

A cursor is an opaque, url-safe encoding of the sort key of the last row served, so pages stay
stable while rows are added (keyset pagination, no OFFSET scans).
"""

import base64
import json
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from services.common.errors import InvalidInput

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> list[Any] | None:
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("cursor is not valid; use the next_cursor of a previous page",
                           code="invalid_cursor") from None
    if not isinstance(values, list):
        raise InvalidInput("cursor is not valid; use the next_cursor of a previous page", code="invalid_cursor")
    return values


class PageParams(BaseModel):
    limit: int
    cursor: list[Any] | None


async def page_params(  # async: no thread hop (services/common/auth.py)
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=512, description="next_cursor of the previous page")] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=decode_cursor(cursor))


def make_page(rows: list[Any], limit: int, key) -> tuple[list[Any], str | None]:
    """Given up to limit+1 rows, the page's rows and the cursor of the next page (or None)."""
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, encode_cursor(list(key(rows[-1])))
    return rows, None
