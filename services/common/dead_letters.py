"""Parked events (dead letters): list them, retry them after a fix, or drop them.

An incoming event whose handler failed `events_max_attempts` times stays in `incoming_events` with
`parked_at` set and its last error; later events of its aggregate wait behind it. Three ways in:

- functions (`list_parked`, `retry_parked`, `drop_parked`) on a service's database;
- `GET /internal/events/parked`, `POST /internal/events/parked/{event_id}/retry`,
  `DELETE /internal/events/parked/{event_id}` on every service (service credential), which the
  gateway offers to administrators under `/api/admin/events/...`;
- `python -m services.common.dead_letters list | retry EVENT_ID | drop EVENT_ID` (`make events-parked`,
  `make events-retry EVENT=...`, `make events-drop EVENT=...`), straight on the databases.

Dropping records the event id in the inbox, so a later redelivery of it is ignored too.
"""

import argparse
import asyncio
import sys
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from sqlalchemy import delete, func, select, update

from services.common.auth import require_service
from services.common.db import Database
from services.common.errors import NotFound
from services.common.incoming import aware
from services.common.tables import KernelTables, insert_ignoring_conflict, utcnow

PARKED_PATH = "/internal/events/parked"
EventId = Annotated[str, Path(min_length=1, max_length=36, pattern=r"^[A-Za-z0-9-]+$")]


def _describe(row) -> dict:
    return {"event_id": row.event_id, "source": row.source, "event_type": row.event_type,
            "aggregate_id": row.aggregate_id, "occurred_at": aware(row.occurred_at).isoformat(),
            "parked_at": aware(row.parked_at).isoformat(), "attempts": row.attempts, "last_error": row.last_error,
            "waiting_behind": row.waiting_behind, "payload": row.payload}


async def list_parked(*, db: Database, kernel: KernelTables, limit: int = 100) -> list[dict]:
    """Parked events, oldest first, each with how many later events of its aggregate wait behind it."""
    t = kernel.incoming
    later = t.alias("later")
    waiting = (select(func.count()).where(later.c.source == t.c.source, later.c.aggregate_id == t.c.aggregate_id,
                                          later.c.id > t.c.id).scalar_subquery())
    async with db.session() as session:
        rows = (await session.execute(select(t, waiting.label("waiting_behind")).where(t.c.parked_at.is_not(None))
                                      .order_by(t.c.id).limit(limit))).all()
    return [_describe(row) for row in rows]


async def retry_parked(*, db: Database, kernel: KernelTables, event_id: str) -> dict:
    """Put a parked event back in line, with a fresh count of attempts; the handler runs again soon."""
    t = kernel.incoming
    async with db.session() as session:
        result = await session.execute(update(t).where(t.c.event_id == event_id, t.c.parked_at.is_not(None))
                                       .values(parked_at=None, attempts=0, next_attempt_at=None))
    if not result.rowcount:
        raise NotFound(f"no parked event {event_id} in this service", code="event_not_parked")
    return {"event_id": event_id, "status": "retrying"}


async def drop_parked(*, db: Database, kernel: KernelTables, event_id: str) -> dict:
    """Give up on a parked event: it is never handled, and the events behind it go on."""
    t = kernel.incoming
    async with db.session() as session:
        row = (await session.execute(select(t).where(t.c.event_id == event_id, t.c.parked_at.is_not(None))
                                     .with_for_update())).first()
        if row is None:
            raise NotFound(f"no parked event {event_id} in this service", code="event_not_parked")
        await session.execute(insert_ignoring_conflict(session, kernel.inbox).values(
            event_id=row.event_id, event_type=row.event_type, aggregate_id=row.aggregate_id, handled_at=utcnow()))
        await session.execute(delete(t).where(t.c.id == row.id))
    return {"event_id": event_id, "status": "dropped"}


def dead_letters_router(spec) -> APIRouter:
    """The internal admin endpoints of one service (service credential; the gateway checks admins)."""
    router = APIRouter(tags=["internal"], dependencies=[Depends(require_service)])

    def wake(request: Request) -> None:
        incoming = getattr(request.app.state, "incoming_events", None)
        if incoming is not None:
            incoming.wake()

    @router.get(PARKED_PATH, summary="Parked events of this service (service credential required)")
    async def parked(request: Request):
        return {"service": spec.name, "items": await list_parked(db=request.app.state.db, kernel=spec.kernel)}

    @router.post(PARKED_PATH + "/{event_id}/retry", summary="Retry a parked event")
    async def retry(request: Request, event_id: EventId):
        answer = await retry_parked(db=request.app.state.db, kernel=spec.kernel, event_id=event_id)
        wake(request)
        return answer

    @router.delete(PARKED_PATH + "/{event_id}", summary="Drop a parked event: it is never handled")
    async def drop(request: Request, event_id: EventId):
        answer = await drop_parked(db=request.app.state.db, kernel=spec.kernel, event_id=event_id)
        wake(request)
        return answer

    return router


# -- command line (make events-parked / events-retry / events-drop) --------------------------------

async def _command(action: str, event_id: str | None, services: list[str]) -> int:
    import importlib

    from services.common.errors import DomainError
    from services.common.migrations import ensure_migrated, settings_of

    found = False
    for name in services:
        module = importlib.import_module("gateway.models" if name == "gateway" else f"services.{name}.models")
        db = Database.from_url(settings_of(name).database_url)
        try:
            await ensure_migrated(db, name)
        except Exception as exc:  # not migrated, or unreachable: say so, look at the other services
            print(f"{name}\tdatabase not usable: {exc}", file=sys.stderr)
            await db.dispose()
            continue
        try:
            if action == "list":
                for item in await list_parked(db=db, kernel=module.kernel):
                    found = True
                    print(f"{name}\t{item['event_id']}\t{item['event_type']}\taggregate {item['aggregate_id']}\t"
                          f"parked {item['parked_at']}\t{item['attempts']} attempts\t"
                          f"{item['waiting_behind']} waiting behind\t{item['last_error']}")
            else:
                work = retry_parked if action == "retry" else drop_parked
                try:
                    answer = await work(db=db, kernel=module.kernel, event_id=event_id)
                except DomainError:
                    continue
                found = True
                print(f"{name}\t{answer['event_id']}\t{answer['status']}")
        finally:
            await db.dispose()
    if not found:
        print("no parked events" if action == "list" else f"no parked event {event_id} in {', '.join(services)}")
    return 0 if found or action == "list" else 1


def main(argv: list[str] | None = None) -> int:
    from services.common.settings import SERVICE_NAMES

    parser = argparse.ArgumentParser(prog="python -m services.common.dead_letters", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=("list", "retry", "drop"))
    parser.add_argument("event_id", nargs="?")
    parser.add_argument("--service", choices=(*SERVICE_NAMES, "gateway"), action="append",
                        help="only this service (repeatable); default: every service")
    args = parser.parse_args(argv)
    if args.action != "list" and not args.event_id:
        parser.error(f"{args.action} needs the event id (see `list`)")
    return asyncio.run(_command(args.action, args.event_id, args.service or [*SERVICE_NAMES, "gateway"]))


if __name__ == "__main__":
    sys.exit(main())
