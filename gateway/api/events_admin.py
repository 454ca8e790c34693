"""Parked events of every service, for administrators: list, retry after a fix, or drop.

A service parks an incoming event whose handler failed every attempt (services.common.incoming) and
offers it on `/internal/events/parked` to holders of the service credential only; the gateway lets
administrators reach them under `/api/admin/events/...` and forwards with its own credential.
"""

import asyncio
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from services.common.auth import Principal, Role, require_roles
from services.common.dead_letters import PARKED_PATH, EventId, drop_parked, list_parked, retry_parked
from services.common.errors import DomainError
from services.common.settings import SERVICE_NAMES

router = APIRouter(prefix="/api/admin/events", tags=["admin"])
Admin = Annotated[Principal, Depends(require_roles(Role.admin))]
# the gateway parks events too (it handles some for notifications): its own are read in process
PROCESSES = (*SERVICE_NAMES, "gateway")
Service = StrEnum("Service", {name: name for name in PROCESSES})
ServiceName = Annotated[Service, Path(description="the service that parked the event")]


async def _parked_of(request: Request, name: str) -> dict:
    if name == "gateway":
        return {"status": "ok", "items": await list_parked(db=request.app.state.db, kernel=request.app.state.kernel)}
    try:
        answer = await request.app.state.clients[name].call("GET", PARKED_PATH)
    except DomainError as exc:  # one service down must not hide the others' parked events
        return {"status": "unreachable", "error": exc.message, "items": []}
    return {"status": "ok", "items": answer.get("items", [])}


@router.get("/parked", summary="Parked events of every service (admins)")
async def parked_events(request: Request, _admin: Admin):
    results = await asyncio.gather(*(_parked_of(request, name) for name in PROCESSES))
    return {"services": dict(zip(PROCESSES, results, strict=True))}


@router.post("/{service}/parked/{event_id}/retry", summary="Retry a parked event after a fix (admins)")
async def retry_parked_event(request: Request, service: ServiceName, event_id: EventId, _admin: Admin):
    if service.value == "gateway":
        return await _own(request, retry_parked, event_id)
    return await request.app.state.clients[service.value].call("POST", f"{PARKED_PATH}/{event_id}/retry")


@router.delete("/{service}/parked/{event_id}", summary="Drop a parked event: it is never handled (admins)")
async def drop_parked_event(request: Request, service: ServiceName, event_id: EventId, _admin: Admin):
    if service.value == "gateway":
        return await _own(request, drop_parked, event_id)
    return await request.app.state.clients[service.value].call("DELETE", f"{PARKED_PATH}/{event_id}")


async def _own(request: Request, action, event_id: str) -> dict:
    answer = await action(db=request.app.state.db, kernel=request.app.state.kernel, event_id=event_id)
    incoming = getattr(request.app.state, "incoming_events", None)
    if incoming is not None:
        incoming.wake()
    return answer
