"""What the orders service tells about a cycle as a whole, for the people who act on it: it opened
(`cycle.opened`, producers update their offer), it closes soon (`cycle.closing_soon`, once per
cycle, some hours before `closes_at`, for its coordinator) and it is settled (`cycle.settled`, the
producers who sold in it). Each is emitted in the transaction of its change (docs/events.md)."""

from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.events import emit
from services.common.tables import KernelTables, utcnow
from services.orders.models import ACTIVE_ORDER_STATUSES, cycles, order_lines, orders


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def cycle_fields(cycle) -> dict:
    """The fields every cycle notice carries."""
    return {"cycle_id": cycle.id, "name": cycle.name, "coordinator_account_id": cycle.coordinator_account_id,
            "closes_at": _iso(cycle.closes_at), "delivery_date": _iso(cycle.delivery_date)}


async def emit_opened(*, session: AsyncSession, kernel: KernelTables, cycle) -> None:
    """`cycle.opened`: a cycle created open, or moved from draft to open."""
    await emit(session, kernel, event_type="cycle.opened", aggregate_id=cycle.id, payload={
        **cycle_fields(cycle), "opens_at": _iso(cycle.opens_at), "delivery_point_ids": list(cycle.point_ids),
        "product_ids": cycle.product_ids})


async def _order_counts(session: AsyncSession, cycle_id: int) -> dict[str, int]:
    rows = await session.execute(select(orders.c.status, func.count()).where(orders.c.cycle_id == cycle_id)
                                 .group_by(orders.c.status))
    return dict(rows.all())


async def announce_closing_soon(*, session: AsyncSession, kernel: KernelTables, within_hours: float) -> list[int]:
    """`cycle.closing_soon` for each open cycle closing within `within_hours`, once per cycle: the
    conditional UPDATE of `closing_soon_at` lets one duty (of any number of workers) announce it."""
    now = utcnow()
    due = (await session.execute(select(cycles.c.id).where(
        cycles.c.status == "open", cycles.c.closing_soon_at.is_(None), cycles.c.closes_at > now,
        cycles.c.closes_at <= now + timedelta(hours=within_hours)))).scalars().all()
    announced = []
    for cycle_id in due:
        won = await session.execute(update(cycles).where(cycles.c.id == cycle_id, cycles.c.closing_soon_at.is_(None))
                                    .values(closing_soon_at=now))
        if won.rowcount != 1:
            continue
        cycle = (await session.execute(select(cycles).where(cycles.c.id == cycle_id))).one()
        counts = await _order_counts(session, cycle_id)
        await emit(session, kernel, event_type="cycle.closing_soon", aggregate_id=cycle_id, payload={
            **cycle_fields(cycle), "orders_placed": counts.get("placed", 0),
            "orders_waitlisted": counts.get("waitlisted", 0)})
        announced.append(cycle_id)
    return announced


async def emit_settled(*, session: AsyncSession, kernel: KernelTables, cycle) -> None:
    """`cycle.settled`: the producers with goods in the cycle's orders can read their statement."""
    producer_ids = (await session.execute(
        select(order_lines.c.producer_id).join(orders, orders.c.id == order_lines.c.order_id)
        .where(order_lines.c.cycle_id == cycle.id, orders.c.status.in_(ACTIVE_ORDER_STATUSES))
        .distinct().order_by(order_lines.c.producer_id))).scalars().all()
    await emit(session, kernel, event_type="cycle.settled", aggregate_id=cycle.id, payload={
        **cycle_fields(cycle), "producer_ids": list(producer_ids), "settled_at": utcnow().isoformat()})
