"""Who may change what in the catalog. Reading is public; every change is checked here.

- coordinators and admins register municipalities, organizations and producers;
- an organization account manages its own organization and its CONFIRMED members, once an admin or
  a coordinator verified it (linked it to its registry organization); an unverified one has no
  organization in its token and so no powers here;
- a producer manages her own profile and products, an organization account its members' products;
- a producer's request to join an organization is answered by that organization or an admin
  (`memberships`);
- a municipality account manages only its own reference prices.
"""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.catalog.models import Organization, Producer
from services.common.auth import Principal, Role
from services.common.errors import Forbidden, NotFound


def ensure_staff(principal: Principal) -> None:
    if not principal.has_role(Role.coordinator):
        raise Forbidden("only coordinators and admins can do this", code="role_required")


def ensure_can_manage_organization(principal: Principal, organization_id: int) -> None:
    if principal.has_role(Role.coordinator):
        return
    if principal.role == Role.organization and principal.organization_id == organization_id:
        return
    raise Forbidden("you can only change your own organization", code="not_your_organization")


def speaks_for(principal: Principal, producer: Producer) -> bool:
    """The producer's own account, or the verified account of the organization she is a confirmed
    member of (`producers.organization_id` is only ever set by a confirmed membership)."""
    if principal.role == Role.producer:
        return principal.producer_id == producer.id
    if principal.role == Role.organization:
        return principal.organization_id is not None and principal.organization_id == producer.organization_id
    return False


def can_manage_producer(principal: Principal | None, producer: Producer) -> bool:
    if principal is None:
        return False
    return principal.has_role(Role.coordinator) or speaks_for(principal, producer)


def can_manage_products_of(principal: Principal | None, producer: Producer) -> bool:
    """Producers their own products, organization accounts their members', admins all."""
    if principal is None:
        return False
    return principal.is_admin or speaks_for(principal, producer)


async def load_organization(*, session: AsyncSession, organization_id: int) -> Organization:
    row = await session.get(Organization, organization_id)
    if row is None:
        raise NotFound(f"organization {organization_id} does not exist", code="organization_not_found",
                       details={"organization_id": organization_id})
    return row


async def load_producer(*, session: AsyncSession, producer_id: int) -> Producer:
    producer = (await session.execute(select(Producer).where(Producer.id == producer_id))).scalar_one_or_none()
    if producer is None:
        raise NotFound(f"producer {producer_id} does not exist", code="producer_not_found",
                       details={"producer_id": producer_id})
    return producer


async def ensure_can_manage_products(*, session: AsyncSession, principal: Principal, producer_id: int) -> Producer:
    producer = await load_producer(session=session, producer_id=producer_id)
    if not can_manage_products_of(principal, producer):
        raise Forbidden("you can only change your own products (or your members' products)",
                        code="not_your_product")
    return producer


def ensure_own_municipality(principal: Principal, municipality_code: str) -> None:
    if principal.is_admin:
        return
    if principal.role == Role.municipality and principal.municipality_code == municipality_code:
        return
    raise Forbidden("a municipality can only change its own reference prices", code="not_your_municipality")
