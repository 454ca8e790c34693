"""Events between services: the envelope, and `emit`, which writes it to the outbox.

`emit` runs inside the caller's transaction, so the event exists if and only if the change it
announces was committed. The relay (services/common/relay.py) publishes it afterwards; consumers
record the event id in their inbox, so a repeat does nothing.
"""

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.tables import KernelTables, utcnow

EVENT_TYPES = (
    "order.placed", "order.cancelled", "cycle.closed", "consignment.delivered", "order.picked_up",
    "order.no_show", "booking.promoted", "payment.received", "advance.disbursed", "advance.repaid",
    "order.waitlisted", "order.promoted", "cycle.capacity_changed",
    "cycle.opened", "cycle.closing_soon", "cycle.settled", "point.nearly_full", "payment.refunded",
    "advance.requested", "advance.approved",
)  # the catalogue in docs/events.md


class Envelope(BaseModel):
    """What travels: one event, whatever the transport. Readers ignore fields they don't know."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(default_factory=lambda: str(uuid.uuid4()), min_length=1, max_length=36)
    type: str = Field(min_length=1, max_length=64)
    version: int = Field(1, ge=1)
    occurred_at: datetime = Field(default_factory=utcnow)
    aggregate_id: str = Field(min_length=1, max_length=64)
    # The emitting service; the relay fills it in (the outbox lives in the source's own database).
    source: str = Field("", max_length=32)
    payload: dict[str, Any]


async def emit(session: AsyncSession, kernel: KernelTables, *, event_type: str, aggregate_id: str | int,
               payload: dict[str, Any], version: int = 1) -> Envelope:
    """Record an event in the outbox, in the same transaction as the change it announces."""
    envelope, row = outbox_row(event_type=event_type, aggregate_id=aggregate_id, payload=payload, version=version)
    # parameters passed to one cached INSERT (cheaper than building `.values(...)` every time)
    await session.execute(insert(kernel.outbox), row)
    session.info["events_emitted"] = True
    return envelope


def outbox_row(*, event_type: str, aggregate_id: str | int, payload: dict[str, Any],
               version: int = 1) -> tuple[Envelope, dict[str, Any]]:
    """An event and its outbox row (the payload as JSON values): what `emit` inserts, and what a
    standalone statement inserts beside the change it announces (`Database.standalone`)."""
    envelope = Envelope(type=event_type, version=version, aggregate_id=str(aggregate_id),
                        payload={"schema_version": version, **payload})
    return envelope, {"event_id": envelope.id, "event_type": envelope.type, "version": envelope.version,
                      "aggregate_id": envelope.aggregate_id, "occurred_at": envelope.occurred_at,
                      "payload": envelope.model_dump(mode="json")["payload"]}
