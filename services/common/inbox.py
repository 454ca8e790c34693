"""Consuming events: one effect per event id, whatever the transport and however often it arrives.

`handle_event` records the event id in the service's inbox and runs its handler in the same
transaction: a duplicate finds the id already there and does nothing; a handler that fails rolls
back the inbox row too. Services receive through `services.common.incoming` (order per aggregate,
retries, parking), which applies events the same way; `handle_event` stays for direct calls.
"""

import logging

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError

from services.common.auth import require_service
from services.common.db import Database
from services.common.events import Envelope
from services.common.tables import KernelTables, insert_ignoring_conflict, utcnow

log = logging.getLogger("mercado.events")

EVENTS_PATH = "/internal/events"
EVENTS_BATCH_PATH = "/internal/events/batch"
MAX_BATCH = 500


class EventBatch(BaseModel):
    events: list[Envelope] = Field(min_length=1, max_length=MAX_BATCH)


async def handle_event(db: Database, kernel: KernelTables, handlers: dict, envelope: Envelope) -> bool:
    """Apply one event; True if it had its effect now, False if it was a duplicate or not subscribed."""
    handler = handlers.get(envelope.type)
    if handler is None:
        return False
    async with db.session() as session:
        result = await session.execute(insert_ignoring_conflict(session, kernel.inbox).values(
            event_id=envelope.id, event_type=envelope.type, aggregate_id=envelope.aggregate_id,
            handled_at=utcnow()))
        if result.rowcount == 0:
            log.info("duplicate event ignored", extra={"event_id": envelope.id, "event_type": envelope.type})
            return False
        await handler(session, envelope)
    return True


async def _body_as(request: Request, model: type[BaseModel]):
    """The body read only now (after the credential check), as `model`, or 422 saying what is wrong."""
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_context=False)) from None


def events_router(spec) -> APIRouter:
    """`POST /internal/events`: where the HTTP transport delivers the events this service subscribes to.

    The service credential is checked before the body is read (403 without it, whatever the body);
    a body that is not an envelope is a 422. 2xx means the event is this service's business now:
    handled at once (`"handled": true`), or kept in its incoming queue behind an earlier event of its
    aggregate or after a handler failure (retried, and parked after `events_max_attempts`), or a
    duplicate. Only when even keeping it failed (database down) the answer is an error, and the
    sender retries.
    """
    router = APIRouter(tags=["internal"], dependencies=[Depends(require_service)])

    @router.post(EVENTS_PATH, summary="Deliver one event (service credential required)")
    async def deliver_event(request: Request):
        envelope = await _body_as(request, Envelope)
        incoming = getattr(request.app.state, "incoming_events", None)
        if incoming is None:  # nothing subscribed (or a kernel without the incoming queue)
            handled = await handle_event(request.app.state.db, spec.kernel, spec.event_handlers, envelope)
        else:
            handled = await incoming.receive_pushed(envelope)
        return {"event_id": envelope.id, "handled": handled}

    @router.post(EVENTS_BATCH_PATH, summary="Deliver many events at once (service credential required)")
    async def deliver_events(request: Request):
        """What a relay sends when it has several events for this service: kept in the incoming queue
        in one transaction (repeats ignored), then applied at once in batches, in order per
        aggregate; 2xx once kept. One HTTP request and a few commits for the lot instead of one
        request and one commit each."""
        batch = await _body_as(request, EventBatch)
        incoming = getattr(request.app.state, "incoming_events", None)
        if incoming is None:
            kept = sum([await handle_event(request.app.state.db, spec.kernel, spec.event_handlers, envelope)
                        for envelope in batch.events])
        else:
            kept = await incoming.store(batch.events)
            if kept:
                try:  # applied now, as a single pushed event is; what fails stays queued and is retried
                    await incoming.run_once()
                except Exception:
                    log.exception("events kept, not applied yet", extra={"events": kept})
        return {"received": len(batch.events), "kept": kept}

    return router
