"""Consistency audit, the part every service shares: `GET /internal/audit` (service credential) answers
what the service finds wrong in its own tables (`discrepancies`) and the facts the gateway needs to
check invariants that span services (`facts`). It only reads. The gateway composes the answers
(gateway/audit.py); `make audit` prints them.
"""

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.app import Session
from services.common.auth import ServiceCaller


class Discrepancy(BaseModel):
    check: str
    service: str
    ids: dict[str, Any]
    detail: str


class AuditAnswer(BaseModel):
    service: str
    discrepancies: list[Discrepancy]
    facts: dict[str, Any]


def discrepancy(check: str, service: str, detail: str, **ids: Any) -> dict[str, Any]:
    """One thing found wrong, with the ids an operator needs to look at it."""
    return {"check": check, "service": service, "ids": ids, "detail": detail}


# audit(session, settings) -> (discrepancies, facts)
AuditFacts = Callable[[AsyncSession, Any], Awaitable[tuple[list[dict], dict[str, Any]]]]


def audit_router(service: str, audit: AuditFacts) -> APIRouter:
    """The service's `GET /internal/audit`, answering `audit(session, settings)` (discrepancies, facts)."""
    router = APIRouter(tags=["internal: audit"])

    @router.get("/internal/audit", response_model=AuditAnswer,
                summary="What this service finds wrong in its own tables, and facts for cross-service checks")
    async def internal_audit(request: Request, session: Session, _caller: ServiceCaller):
        found, facts = await audit(session, request.app.state.settings)
        return {"service": service, "discrepancies": found, "facts": facts}

    return router
