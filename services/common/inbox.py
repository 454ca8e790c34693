"""Consuming events: one effect per event id, whatever the transport and however often it arrives.

`handle_event` records the event id in the service's inbox and runs its handler in the same
transaction: a duplicate finds the id already there and does nothing; a handler that fails rolls
back the inbox row too, so the event is retried.
"""

import logging

from services.common.db import Database
from services.common.events import Envelope
from services.common.tables import KernelTables, insert_ignoring_conflict, utcnow

log = logging.getLogger("mercado.events")


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
