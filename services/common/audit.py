"""Consistency audit, the part every service shares: `GET /internal/audit` (service credential) answers
what the service finds wrong in its own tables (`discrepancies`) and the facts the gateway needs to
check invariants that span services (`facts`). It only reads. The gateway composes the answers
(gateway/audit.py); `make audit` prints them.

Every process also reports its events (`facts["events"]`, `event_facts`): the ids in its outbox,
published or not, and the ids in its inbox, so the gateway can check that each event's effect was
applied exactly once by each subscriber (the inbox row is written in the transaction of the effect,
and its key makes a second one impossible).
"""

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.app import Session
from services.common.auth import ServiceCaller
from services.common.tables import KernelTables, utcnow


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


async def event_facts(session: AsyncSession, kernel: KernelTables, retention_days: float) -> dict[str, Any]:
    """This process's events, for the gateway's "applied exactly once" check (read-only):

    - `published` {event id: type}, `unpublished` {event id: type}: its outbox (published rows are
      purged after `retention_days`; every one still there must be in each subscriber's inbox);
    - `applied` {event id: recent}: its inbox, the rows handled within twice the retention (older
      ones are only counted, `applied_earlier`: no outbox still holds their events, and an
      installation's inbox only grows); `recent` when handled well within the retention (an hour
      to spare), so its source's outbox must still hold it;
    - `waiting`, `parked` [event id]: received and not applied yet (retrying), or given up on.
    """
    outbox, inbox = kernel.outbox, kernel.inbox
    published, unpublished = {}, {}
    for row in (await session.execute(select(outbox.c.event_id, outbox.c.event_type, outbox.c.published_at))).all():
        (unpublished if row.published_at is None else published)[row.event_id] = row.event_type
    applied, earlier = {}, 0
    if retention_days > 0:
        now = utcnow()
        recent_since = now - timedelta(days=retention_days) + timedelta(hours=1)
        listed_since = now - timedelta(days=2 * retention_days)
        for row in (await session.execute(select(inbox.c.event_id, inbox.c.handled_at)
                                          .where(inbox.c.handled_at >= listed_since))).all():
            applied[row.event_id] = row.handled_at >= recent_since
        earlier = (await session.execute(select(func.count()).select_from(inbox)
                                         .where(inbox.c.handled_at < listed_since))).scalar_one()
    else:  # outboxes keep every event: every inbox row must match one
        applied = dict.fromkeys((await session.execute(select(inbox.c.event_id))).scalars(), True)
    waiting, parked = [], []
    if kernel.incoming is not None:
        queue = kernel.incoming
        for row in (await session.execute(select(queue.c.event_id, queue.c.parked_at).order_by(queue.c.id))).all():
            (waiting if row.parked_at is None else parked).append(row.event_id)
    return {"published": published, "unpublished": unpublished, "applied": applied, "applied_earlier": earlier,
            "waiting": waiting, "parked": parked}


# audit(session, settings) -> (discrepancies, facts)
AuditFacts = Callable[[AsyncSession, Any], Awaitable[tuple[list[dict], dict[str, Any]]]]


async def no_own_checks(session: AsyncSession, settings) -> tuple[list[dict], dict[str, Any]]:
    """For a process with no tables of its own to check (the gateway): only its events."""
    return [], {}


def audit_router(service: str, audit: AuditFacts = no_own_checks) -> APIRouter:
    """The service's `GET /internal/audit`, answering `audit(session, settings)` (discrepancies, facts)."""
    router = APIRouter(tags=["internal: audit"])

    @router.get("/internal/audit", response_model=AuditAnswer,
                summary="What this service finds wrong in its own tables, and facts for cross-service checks")
    async def internal_audit(request: Request, session: Session, _caller: ServiceCaller):
        settings = request.app.state.settings
        found, facts = await audit(session, settings)
        facts["events"] = await event_facts(session, request.app.state.kernel, settings.relay_retention_days)
        return {"service": service, "discrepancies": found, "facts": facts}

    return router
