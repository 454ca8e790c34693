"""Membership of a producer in an organization: asked for, then confirmed or rejected.

A producer (or staff registering her) asks to join; the request waits, pending, until the
organization's own verified account or an admin answers it. Only a confirmed membership sets
`producers.organization_id`, and with it the organization's staff powers over her and the
certifications her products inherit. Leaving is the producer's (or the organization's) choice and
needs no answer (`registry.update_producer` with `organization_id: null`).
"""

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.catalog import access
from services.catalog.models import Membership, MembershipStatus, Producer
from services.catalog.schemas import MembershipOut
from services.common.auth import Principal, Role
from services.common.errors import Conflict, Forbidden, NotFound
from services.common.tables import utcnow


def _out(row: Membership) -> MembershipOut:
    return MembershipOut.model_validate(row, from_attributes=True)


async def request_membership(*, session: AsyncSession, principal: Principal, producer_id: int,
                             organization_id: int) -> MembershipOut:
    """The producer herself (or a coordinator or admin registering her) asks to join an organization."""
    producer = await access.load_producer(session=session, producer_id=producer_id)
    own = principal.role == Role.producer and principal.producer_id == producer.id
    if not (own or principal.has_role(Role.coordinator)):
        raise Forbidden("only the producer herself (or a coordinator) asks to join an organization",
                        code="not_your_producer")
    await access.load_organization(session=session, organization_id=organization_id)
    return await open_request(session=session, producer=producer, organization_id=organization_id,
                              requested_by=principal.account_id)


async def open_request(*, session: AsyncSession, producer: Producer, organization_id: int,
                       requested_by: int) -> MembershipOut:
    if producer.organization_id == organization_id:
        raise Conflict(f"producer {producer.id} is already a member of organization {organization_id}",
                       code="already_member")
    pending = await _pending_of(session, producer.id)
    if pending is not None:
        raise Conflict(f"producer {producer.id} already asked to join organization {pending.organization_id}; "
                       "wait for its answer", code="membership_pending", details={"membership_id": pending.id})
    row = Membership(producer_id=producer.id, organization_id=organization_id,
                     status=MembershipStatus.pending.value, requested_by=requested_by)
    session.add(row)
    try:
        await session.flush()
    except IntegrityError:  # a concurrent request won the race
        raise Conflict(f"producer {producer.id} already has a pending request", code="membership_pending") from None
    return _out(row)


async def record_confirmed(*, session: AsyncSession, producer: Producer, organization_id: int,
                           decided_by: int) -> None:
    """The organization itself (or an admin) registers a member: confirmed at once."""
    now = utcnow()
    session.add(Membership(producer_id=producer.id, organization_id=organization_id,
                           status=MembershipStatus.confirmed.value, requested_by=decided_by,
                           decided_by=decided_by, requested_at=now, decided_at=now))
    producer.organization_id = organization_id
    await session.flush()


def ensure_answers_for(principal: Principal, organization_id: int) -> None:
    """Only the organization's own verified account, or an admin, answers its membership requests."""
    if principal.is_admin:
        return
    if principal.role == Role.organization and principal.organization_id == organization_id:
        return
    raise Forbidden("only the organization's own account (or an admin) answers its membership requests",
                    code="not_your_organization")


async def decide_membership(*, session: AsyncSession, principal: Principal, membership_id: int,
                            confirm: bool) -> MembershipOut:
    row = await session.get(Membership, membership_id)
    if row is None:
        raise NotFound(f"membership request {membership_id} does not exist", code="membership_not_found")
    ensure_answers_for(principal, row.organization_id)
    if row.status != MembershipStatus.pending.value:
        raise Conflict(f"membership request {membership_id} was already answered ({row.status})",
                       code="membership_answered", details={"status": row.status})
    row.status = (MembershipStatus.confirmed if confirm else MembershipStatus.rejected).value
    row.decided_by = principal.account_id
    row.decided_at = utcnow()
    if confirm:
        producer = await access.load_producer(session=session, producer_id=row.producer_id)
        producer.organization_id = row.organization_id
    await session.flush()
    return _out(row)


async def list_for_organization(*, session: AsyncSession, principal: Principal, organization_id: int,
                                status: MembershipStatus | None) -> list[MembershipOut]:
    await access.load_organization(session=session, organization_id=organization_id)
    if not principal.has_role(Role.coordinator):
        ensure_answers_for(principal, organization_id)
    query = select(Membership).where(Membership.organization_id == organization_id).order_by(Membership.id)
    if status is not None:
        query = query.where(Membership.status == status.value)
    return [_out(r) for r in (await session.execute(query.limit(500))).scalars()]


async def list_for_producer(*, session: AsyncSession, principal: Principal, producer_id: int) -> list[MembershipOut]:
    producer = await access.load_producer(session=session, producer_id=producer_id)
    if not access.can_manage_producer(principal, producer):
        raise Forbidden("only the producer, her organization or a coordinator sees her requests",
                        code="not_your_producer")
    query = select(Membership).where(Membership.producer_id == producer_id).order_by(Membership.id)
    return [_out(r) for r in (await session.execute(query.limit(500))).scalars()]


async def _pending_of(session: AsyncSession, producer_id: int) -> Membership | None:
    return (await session.execute(select(Membership).where(
        Membership.producer_id == producer_id, Membership.status == MembershipStatus.pending.value))).scalar_one_or_none()
