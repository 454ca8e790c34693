"""Background duties of the orders service, run from the app's lifespan.

Every few seconds: announce cycles that close within `closing_soon_hours` (once each), close cycles whose `closes_at` has passed (cancelling their waiting orders), consolidate closed cycles (retrying
when catalog was down), and compensate orders a crash left half-placed or not yet released.
"""

import logging

from sqlalchemy import select

from services.orders.consolidation import consolidate_cycle
from services.orders.cycle_notices import announce_closing_soon
from services.orders.cycles import due_cycle_ids
from services.orders.models import cycles
from services.orders.placement import recover_orders
from services.orders.waitlist import close_cycle

log = logging.getLogger("mercado.orders")


async def run_duties_once(*, db, kernel, clients, pending_older_than: float, closing_soon_hours: float = 6.0) -> None:
    async with db.session() as session:
        await announce_closing_soon(session=session, kernel=kernel, within_hours=closing_soon_hours)
    async with db.session() as session:
        for cycle_id in await due_cycle_ids(session=session):
            await close_cycle(session=session, kernel=kernel, cycle_id=cycle_id)
    async with db.session() as session:
        closed = (await session.execute(select(cycles.c.id).where(cycles.c.status == "closed"))).scalars().all()
    for cycle_id in closed:
        try:
            await consolidate_cycle(db=db, kernel=kernel, clients=clients, cycle_id=cycle_id)
        except Exception as exc:
            log.warning("consolidation postponed", extra={"cycle_id": cycle_id, "error": repr(exc)})
    await recover_orders(db=db, clients=clients, pending_older_than=pending_older_than)


async def run_duties(app) -> None:
    """One round of the service's periodic duties (see ServiceSpec.periodic)."""
    await run_duties_once(db=app.state.db, kernel=app.state.kernel, clients=app.state.clients,
                          pending_older_than=app.state.settings.pending_timeout_seconds,
                          closing_soon_hours=app.state.settings.closing_soon_hours)
