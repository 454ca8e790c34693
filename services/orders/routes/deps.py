"""What the orders routers share: who may call, and the shapes of their paths and headers."""

from typing import Annotated

from fastapi import Depends, Header, Path, Query

from services.common.auth import Principal, Role, require_roles
from services.common.pagination import encode_cursor

Coordinator = Annotated[Principal, Depends(require_roles(Role.coordinator))]
Consumer = Annotated[Principal, Depends(require_roles(Role.consumer))]
CycleId = Annotated[int, Query(ge=1, le=2**53)]
CyclePath = Annotated[int, Path(ge=1, le=2**53)]
OrderPath = Annotated[int, Path(ge=1, le=2**53)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)]


def next_cursor(cursor: list | None) -> str | None:
    return encode_cursor(cursor) if cursor else None
