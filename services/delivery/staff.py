"""Point staff: the accounts a cycle's coordinator assigns to work at one of the cycle's points.

An assignment is (cycle, point, account): duties are per cycle because a cycle belongs to one
coordinator while points are shared places that many cycles use. Any account may be assigned (a
volunteer with a consumer account, an organization's account): the assignment, not the role, gives
the power. Account ids are the gateway's; delivery does not check that the account exists (it does
not read the gateway's tables), so a mistyped id gives nobody anything until it is removed.
"""

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.errors import InvalidInput, NotFound
from services.common.tables import insert_ignoring_conflict, utcnow
from services.delivery.access import cycle_owner, ensure_cycle_coordinator
from services.delivery.models import Cycle, PointStaff


async def assign_staff(*, session: AsyncSession, orders, principal: Principal, cycle_id: int, point_id: int,
                       account_id: int) -> PointStaff:
    """Assign an account to a point of the cycle (assigning twice changes nothing)."""
    owner = await ensure_cycle_coordinator(session=session, orders=orders, principal=principal, cycle_id=cycle_id)
    if point_id not in (owner.point_ids or []) and await session.get(Cycle, cycle_id) is None:
        # not closed yet: points may have been added since delivery learned them
        owner = await cycle_owner(session=session, orders=orders, cycle_id=cycle_id, refresh=True)
    if point_id not in (owner.point_ids or []):
        raise InvalidInput(f"delivery point {point_id} is not one of cycle {cycle_id}'s points",
                           code="point_not_in_cycle",
                           details={"point_id": point_id, "cycle_point_ids": list(owner.point_ids or [])})
    await session.execute(insert_ignoring_conflict(session, PointStaff.__table__).values(
        cycle_id=cycle_id, point_id=point_id, account_id=account_id, assigned_by=principal.account_id,
        assigned_at=utcnow()))
    return (await session.execute(select(PointStaff).where(
        PointStaff.cycle_id == cycle_id, PointStaff.point_id == point_id, PointStaff.account_id == account_id))
    ).scalar_one()


async def duties_of(*, session: AsyncSession, account_id: int, limit: int = 100) -> list[PointStaff]:
    """The points an account was assigned to, newest cycle first (anyone may ask about herself)."""
    return list((await session.execute(select(PointStaff).where(PointStaff.account_id == account_id)
                                       .order_by(PointStaff.cycle_id.desc(), PointStaff.point_id)
                                       .limit(limit))).scalars())


async def list_staff(*, session: AsyncSession, orders, principal: Principal, cycle_id: int) -> list[PointStaff]:
    await ensure_cycle_coordinator(session=session, orders=orders, principal=principal, cycle_id=cycle_id)
    return list((await session.execute(select(PointStaff).where(PointStaff.cycle_id == cycle_id)
                                       .order_by(PointStaff.point_id, PointStaff.account_id))).scalars())


async def remove_staff(*, session: AsyncSession, orders, principal: Principal, cycle_id: int, point_id: int,
                       account_id: int) -> None:
    await ensure_cycle_coordinator(session=session, orders=orders, principal=principal, cycle_id=cycle_id)
    gone = await session.execute(delete(PointStaff).where(
        PointStaff.cycle_id == cycle_id, PointStaff.point_id == point_id, PointStaff.account_id == account_id))
    if gone.rowcount == 0:
        raise NotFound(f"account {account_id} is not assigned to point {point_id} in cycle {cycle_id}",
                       code="staff_not_found")
