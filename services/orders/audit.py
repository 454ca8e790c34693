"""Orders' part of the consistency audit (services/common/audit.py), read-only.

Found here: an order still `pending` beyond the recovery window (the periodic recovery should have
settled it), and a failed or cancelled order whose stock and slot were never given back after it.
Facts for the gateway: which orders are placed (placed and later states), which failed or were
cancelled. The demo's history orders (`request_hash` "demo", written straight into this database by
services/orders/demo.py, never placed through the saga) have no booking and no payment side: they
are counted apart and not crossed with the other services.
"""

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.audit import audit_router, discrepancy
from services.common.tables import utcnow
from services.orders.models import orders

SERVICE = "orders"
PLACED = ("placed", "packed", "ready", "picked_up", "no_show")
ENDED = ("failed", "cancelled")
DEMO_HISTORY = "demo"  # the request_hash of the demo's history orders


def recovery_window(settings) -> timedelta:
    """How long recovery may take to settle an order: its timeout, then one more pass of the duties."""
    return timedelta(seconds=settings.pending_timeout_seconds + 2 * settings.duties_interval_seconds)


async def audit(session: AsyncSession, settings) -> tuple[list[dict], dict]:
    cutoff = utcnow() - recovery_window(settings)
    rows = (await session.execute(select(orders.c.id, orders.c.status, orders.c.created_at, orders.c.updated_at,
                                         orders.c.released_at, orders.c.request_hash).order_by(orders.c.id))).all()
    history = [r for r in rows if r.request_hash == DEMO_HISTORY]
    rows = [r for r in rows if r.request_hash != DEMO_HISTORY]
    found = []
    for row in rows:
        if row.status == "pending" and row.created_at < cutoff:
            found.append(discrepancy("pending_beyond_recovery", SERVICE,
                                     f"order {row.id} is still pending since {row.created_at.isoformat()}",
                                     order_id=row.id))
        if row.status in ENDED and row.released_at is None and row.updated_at < cutoff:
            found.append(discrepancy("ended_order_not_released", SERVICE,
                                     f"order {row.id} is {row.status} and its stock and slot were never released",
                                     order_id=row.id))
    return found, {"placed_orders": [r.id for r in rows if r.status in PLACED],
                   "ended_orders": [r.id for r in rows if r.status in ENDED], "demo_history_orders": len(history)}


router = audit_router(SERVICE, audit)
