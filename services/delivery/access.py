"""Who may act on what in delivery: one rule per resource, stated here once (the table is in
docs/architecture.md, "Ownership model"). Admins pass every check.

- delivery point: anyone reads it (a public place); coordinators register points; the coordinator
  who registered a point (or an admin) edits and retires it.
- cycle: belongs to the coordinator who created it in orders. Delivery never reads orders' tables:
  it learns the owner and the cycle's points from `cycle.closed`, or asks orders once
  (`GET /internal/cycles/{id}/owner`, service credential) and remembers the answer.
- point staff: the cycle's coordinator assigns accounts of any role to one of the cycle's points.
- booking / pickup: pickup codes are checked, and QR codes shown, by the cycle's coordinator or the
  staff of the booking's point in that cycle (who also list those pickups, without their codes); the
  consumer who placed the order sees her own QR.
- no-shows: the coordinator marks the whole cycle, staff the points they work at.
- consignment: the coordinator and the staff of its point (in its cycle) read and receive it; the
  producer herself and her organization's account read their own. Only the coordinator corrects a
  receipt.
- route plan: the coordinator plans; the coordinator and the cycle's staff read it.
"""

from sqlalchemy import and_, exists, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal, Role
from services.common.errors import DomainError, Forbidden, NotFound
from services.common.tables import insert_ignoring_conflict, utcnow
from services.delivery.models import Booking, Consignment, CycleOwner, DeliveryPoint, PointStaff


# ---------------------------------------------------------------- delivery points
def may_edit_point(principal: Principal, point: DeliveryPoint) -> bool:
    if principal.is_admin:
        return True
    return principal.role == Role.coordinator and point.registered_by == principal.account_id


def ensure_can_edit_point(principal: Principal, point: DeliveryPoint) -> None:
    if not may_edit_point(principal, point):
        raise Forbidden(f"delivery point {point.id} is edited by the coordinator who registered it (or an admin)",
                        code="not_your_point", details={"point_id": point.id})


# ---------------------------------------------------------------- cycles and their owner
async def remember_cycle_owner(*, session: AsyncSession, cycle_id: int, coordinator_account_id: int,
                               point_ids: list[int] | None) -> None:
    """Record (or refresh) who coordinates a cycle, as orders said."""
    values = {"coordinator_account_id": int(coordinator_account_id)}
    if point_ids is not None:
        values["point_ids"] = sorted({int(p) for p in point_ids})
    await session.execute(insert_ignoring_conflict(session, CycleOwner.__table__).values(
        cycle_id=cycle_id, point_ids=values.get("point_ids", []), coordinator_account_id=values["coordinator_account_id"],
        learned_at=utcnow()))
    await session.execute(CycleOwner.__table__.update().where(CycleOwner.__table__.c.cycle_id == cycle_id)
                          .values(**values, learned_at=utcnow()))


async def cycle_owner(*, session: AsyncSession, orders, cycle_id: int, refresh: bool = False) -> CycleOwner:
    """Who owns the cycle: remembered, or asked of orders (404 if orders does not know it); `refresh`
    asks again (a cycle's points can change until it closes)."""
    owner = await session.get(CycleOwner, cycle_id)
    if owner is not None and not refresh:
        return owner
    try:
        found = await orders.call("GET", f"/internal/cycles/{cycle_id}/owner")
    except DomainError as exc:
        if exc.status == 404:
            raise NotFound(f"cycle {cycle_id} does not exist", code="cycle_not_found",
                           details={"cycle_id": cycle_id}) from None
        raise
    await remember_cycle_owner(session=session, cycle_id=cycle_id,
                               coordinator_account_id=int(found["coordinator_account_id"]),
                               point_ids=found.get("delivery_point_ids") or [])
    await session.flush()
    return await session.get(CycleOwner, cycle_id, populate_existing=True)


def coordinates(principal: Principal, owner: CycleOwner) -> bool:
    """The cycle's own coordinator (or an admin)."""
    if principal.is_admin:
        return True
    return principal.role == Role.coordinator and principal.account_id == owner.coordinator_account_id


async def ensure_cycle_coordinator(*, session: AsyncSession, orders, principal: Principal,
                                   cycle_id: int) -> CycleOwner:
    owner = await cycle_owner(session=session, orders=orders, cycle_id=cycle_id)
    if not coordinates(principal, owner):
        raise Forbidden(f"cycle {cycle_id} belongs to another coordinator", code="not_your_cycle",
                        details={"cycle_id": cycle_id})
    return owner


# ---------------------------------------------------------------- point staff
async def staffed_points(*, session: AsyncSession, account_id: int, cycle_id: int) -> set[int]:
    """The points of a cycle an account was assigned to."""
    rows = await session.execute(select(PointStaff.point_id).where(PointStaff.account_id == account_id,
                                                                   PointStaff.cycle_id == cycle_id))
    return {int(r[0]) for r in rows}


async def may_act_at_point(*, session: AsyncSession, orders, principal: Principal, cycle_id: int,
                           point_id: int) -> bool:
    """The cycle's coordinator, or an account assigned to this point in this cycle."""
    if principal.is_admin:
        return True
    if point_id in await staffed_points(session=session, account_id=principal.account_id, cycle_id=cycle_id):
        return True
    return coordinates(principal, await cycle_owner(session=session, orders=orders, cycle_id=cycle_id))


async def ensure_point_duty(*, session: AsyncSession, orders, principal: Principal, cycle_id: int,
                            point_id: int) -> None:
    if not await may_act_at_point(session=session, orders=orders, principal=principal, cycle_id=cycle_id,
                                  point_id=point_id):
        raise Forbidden(f"only the coordinator of cycle {cycle_id} or the staff assigned to delivery point "
                        f"{point_id} can do this", code="not_point_staff",
                        details={"cycle_id": cycle_id, "point_id": point_id})


async def no_show_points(*, session: AsyncSession, orders, principal: Principal, cycle_id: int) -> set[int] | None:
    """Points whose no-shows the caller may mark: None for the whole cycle (its coordinator)."""
    if principal.is_admin:
        return None
    points = await staffed_points(session=session, account_id=principal.account_id, cycle_id=cycle_id)
    if coordinates(principal, await cycle_owner(session=session, orders=orders, cycle_id=cycle_id)):
        return None
    if not points:
        raise Forbidden(f"only the coordinator of cycle {cycle_id} or its point staff can mark no-shows",
                        code="not_point_staff", details={"cycle_id": cycle_id})
    return points


async def ensure_can_read_route_plan(*, session: AsyncSession, orders, principal: Principal, cycle_id: int) -> None:
    if principal.is_admin or await staffed_points(session=session, account_id=principal.account_id,
                                                  cycle_id=cycle_id):
        return
    await ensure_cycle_coordinator(session=session, orders=orders, principal=principal, cycle_id=cycle_id)


# ---------------------------------------------------------------- bookings and pickup codes
def may_see_own_pickup_code(principal: Principal, booking) -> bool:
    return booking.consumer_account_id is not None and booking.consumer_account_id == principal.account_id


def visible_pickups(principal: Principal):
    """A WHERE clause for the bookings whose pickup a caller may check (None: all, for admins): those
    of the points she works at in their cycle, and every booking of the cycles she coordinates."""
    if principal.is_admin:
        return None
    me = principal.account_id
    clauses = [exists().where(PointStaff.account_id == me, PointStaff.cycle_id == Booking.cycle_id,
                              PointStaff.point_id == Booking.point_id)]
    if principal.role == Role.coordinator:
        clauses.append(exists().where(CycleOwner.cycle_id == Booking.cycle_id,
                                      CycleOwner.coordinator_account_id == me))
    return or_(*clauses)


# ---------------------------------------------------------------- consignments
def concerns(principal: Principal, consignment: Consignment) -> bool:
    """The producer herself, or the account of her organization."""
    if principal.role == Role.producer:
        return principal.producer_id is not None and principal.producer_id == consignment.producer_id
    if principal.role == Role.organization:
        return principal.organization_id is not None and principal.organization_id == consignment.organization_id
    return False


async def ensure_can_read_consignment(*, session: AsyncSession, orders, principal: Principal,
                                      consignment: Consignment) -> None:
    if concerns(principal, consignment):
        return
    if not await may_act_at_point(session=session, orders=orders, principal=principal,
                                  cycle_id=consignment.cycle_id, point_id=consignment.delivery_point_id):
        raise Forbidden(f"consignment {consignment.id} is read by its cycle's coordinator, its point's staff, "
                        "its producer and her organization", code="not_your_consignment",
                        details={"consignment_id": consignment.id})


async def ensure_can_receive(*, session: AsyncSession, orders, principal: Principal, consignment: Consignment) -> None:
    await ensure_point_duty(session=session, orders=orders, principal=principal, cycle_id=consignment.cycle_id,
                            point_id=consignment.delivery_point_id)


async def ensure_can_correct_receipt(*, session: AsyncSession, orders, principal: Principal,
                                     consignment: Consignment) -> None:
    await ensure_cycle_coordinator(session=session, orders=orders, principal=principal, cycle_id=consignment.cycle_id)


def visible_consignments(principal: Principal):
    """A WHERE clause for the consignments a caller may list (None: all of them, for admins)."""
    if principal.is_admin:
        return None
    me = principal.account_id
    staffed = exists().where(PointStaff.account_id == me, PointStaff.cycle_id == Consignment.cycle_id,
                             PointStaff.point_id == Consignment.delivery_point_id)
    clauses = [staffed]
    if principal.role == Role.coordinator:
        clauses.append(exists().where(CycleOwner.cycle_id == Consignment.cycle_id,
                                      CycleOwner.coordinator_account_id == me))
    if principal.role == Role.producer and principal.producer_id is not None:
        clauses.append(Consignment.producer_id == principal.producer_id)
    if principal.role == Role.organization and principal.organization_id is not None:
        clauses.append(and_(Consignment.organization_id.is_not(None),
                            Consignment.organization_id == principal.organization_id))
    return or_(*clauses) if clauses else false()
