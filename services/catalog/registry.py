"""Municipalities, organizations and producers: registering, changing and listing them."""

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.catalog import access, memberships
from services.catalog.models import Municipality, Organization, Producer
from services.catalog.schemas import (
    MunicipalityIn,
    MunicipalityOut,
    OrganizationIn,
    OrganizationOut,
    ProducerEnrolmentIn,
    ProducerIn,
    ProducerOut,
)
from services.common.auth import Principal, Role
from services.common.errors import Conflict, Forbidden, InvalidInput, NotFound
from services.common.pagination import PageParams, make_page


def _cursor_value(params: PageParams, kind: type) -> Any:
    if params.cursor is None:
        return None
    if len(params.cursor) != 1 or not isinstance(params.cursor[0], kind) or isinstance(params.cursor[0], bool):
        raise InvalidInput("cursor is not valid; use the next_cursor of a previous page", code="invalid_cursor")
    return params.cursor[0]


# --- municipalities --------------------------------------------------------------------------

async def create_municipality(*, session: AsyncSession, principal: Principal, data: MunicipalityIn) -> MunicipalityOut:
    access.ensure_staff(principal)
    if await session.get(Municipality, data.code) is not None:
        raise Conflict(f"municipality {data.code} already exists", code="municipality_exists",
                       details={"code": data.code})
    row = Municipality(**data.model_dump())
    session.add(row)
    await session.flush()
    return MunicipalityOut.model_validate(row, from_attributes=True)


async def get_municipality(*, session: AsyncSession, code: str) -> MunicipalityOut:
    row = await session.get(Municipality, code)
    if row is None:
        raise NotFound(f"municipality {code} does not exist", code="municipality_not_found",
                       details={"code": code})
    return MunicipalityOut.model_validate(row, from_attributes=True)


async def ensure_municipality(*, session: AsyncSession, code: str) -> None:
    if await session.get(Municipality, code) is None:
        raise InvalidInput(f"municipality {code} is not registered; register it first or check the INE code",
                           code="unknown_municipality", details={"municipality_code": code})


async def list_municipalities(*, session: AsyncSession, department: str | None,
                              params: PageParams) -> tuple[list[MunicipalityOut], str | None]:
    after = _cursor_value(params, str)
    query = select(Municipality).order_by(Municipality.code).limit(params.limit + 1)
    if department:
        query = query.where(Municipality.department == department)
    if after is not None:
        query = query.where(Municipality.code > after)
    rows = list((await session.execute(query)).scalars())
    rows, cursor = make_page(rows, params.limit, lambda r: [r.code])
    return [MunicipalityOut.model_validate(r, from_attributes=True) for r in rows], cursor


# --- organizations ---------------------------------------------------------------------------

def _check_counts(member_count: int, women_count: int) -> None:
    if women_count > member_count:
        raise InvalidInput(f"women members ({women_count}) cannot exceed members ({member_count})",
                           code="invalid_member_counts")


async def create_organization(*, session: AsyncSession, principal: Principal, data: OrganizationIn) -> OrganizationOut:
    access.ensure_staff(principal)
    await ensure_municipality(session=session, code=data.municipality_code)
    _check_counts(data.member_count, data.women_count)
    row = Organization(**data.model_dump(mode="json"))
    session.add(row)
    await session.flush()
    return OrganizationOut.model_validate(row, from_attributes=True)


async def get_organization(*, session: AsyncSession, organization_id: int) -> OrganizationOut:
    row = await access.load_organization(session=session, organization_id=organization_id)
    return OrganizationOut.model_validate(row, from_attributes=True)


async def update_organization(*, session: AsyncSession, principal: Principal, organization_id: int,
                              changes: dict[str, Any]) -> OrganizationOut:
    row = await access.load_organization(session=session, organization_id=organization_id)
    access.ensure_can_manage_organization(principal, organization_id)
    for key, value in changes.items():
        setattr(row, key, value)
    _check_counts(row.member_count, row.women_count)
    await session.flush()
    return OrganizationOut.model_validate(row, from_attributes=True)


async def list_organizations(*, session: AsyncSession, municipality: str | None, legal_form: str | None,
                             params: PageParams) -> tuple[list[OrganizationOut], str | None]:
    after = _cursor_value(params, int)
    query = select(Organization).order_by(Organization.id).limit(params.limit + 1)
    if municipality:
        query = query.where(Organization.municipality_code == municipality)
    if legal_form:
        query = query.where(Organization.legal_form == legal_form)
    if after is not None:
        query = query.where(Organization.id > after)
    rows = list((await session.execute(query)).scalars())
    rows, cursor = make_page(rows, params.limit, lambda r: [r.id])
    return [OrganizationOut.model_validate(r, from_attributes=True) for r in rows], cursor


# --- producers -------------------------------------------------------------------------------

PUBLIC_COORDINATE_DECIMALS = 2  # about 1 km: the community, never the farm


def producer_view(row: Producer, principal: Principal | None) -> ProducerOut:
    """A producer as the caller may see her: phone and exact farm location only for those who
    manage her; everyone else gets municipality, community and coordinates rounded to ~1 km."""
    out = ProducerOut.model_validate(row, from_attributes=True)
    if not access.can_manage_producer(principal, row):
        out.phone = None
        out.lat = round(out.lat, PUBLIC_COORDINATE_DECIMALS) if out.lat is not None else None
        out.lon = round(out.lon, PUBLIC_COORDINATE_DECIMALS) if out.lon is not None else None
    return out


async def create_producer(*, session: AsyncSession, principal: Principal, data: ProducerIn) -> ProducerOut:
    """Staff register a producer; an organization registers its own members.

    Joining an organization is confirmed by that organization: when an organization account (or an
    admin) registers her into it she is a member at once; when a coordinator names an organization
    her request waits, pending, for the organization's answer."""
    own_org = principal.role == Role.organization and data.organization_id is not None \
        and principal.organization_id == data.organization_id
    if not own_org:
        access.ensure_staff(principal)
    await ensure_municipality(session=session, code=data.municipality_code)
    if data.organization_id is not None:
        await access.load_organization(session=session, organization_id=data.organization_id)
    row = Producer(**data.model_dump(mode="json", exclude={"organization_id"}))
    session.add(row)
    await session.flush()
    if data.organization_id is not None:
        if own_org or principal.is_admin:
            await memberships.record_confirmed(session=session, producer=row, organization_id=data.organization_id,
                                               decided_by=principal.account_id)
        else:
            await memberships.open_request(session=session, producer=row, organization_id=data.organization_id,
                                           requested_by=principal.account_id)
    return producer_view(row, principal)


async def enrol_producer(*, session: AsyncSession, data: ProducerEnrolmentIn) -> ProducerOut:
    """A producer who registered her own account gets her registry record (the gateway then links
    her account to it). No organization here: joining one is asked for and answered (`memberships`)."""
    await ensure_municipality(session=session, code=data.municipality_code)
    row = Producer(**data.model_dump(mode="json"))
    session.add(row)
    await session.flush()
    return ProducerOut.model_validate(row, from_attributes=True)


async def get_producer(*, session: AsyncSession, principal: Principal | None, producer_id: int) -> ProducerOut:
    row = await access.load_producer(session=session, producer_id=producer_id)
    return producer_view(row, principal)


async def update_producer(*, session: AsyncSession, principal: Principal, producer_id: int,
                          changes: dict[str, Any]) -> ProducerOut:
    row = await access.load_producer(session=session, producer_id=producer_id)
    if not access.can_manage_producer(principal, row):
        raise Forbidden("you can only change your own profile (or your members')", code="not_your_producer")
    joining = changes.get("organization_id")
    if joining is not None and joining != row.organization_id:
        # joining is asked for and answered (POST /producers/{id}/memberships), never self-declared:
        # membership brings the organization's certifications and its staff's powers
        raise Forbidden("to join an organization, ask it: POST /producers/{id}/memberships; the organization "
                        "confirms", code="membership_required", details={"organization_id": joining})
    for key, value in changes.items():
        setattr(row, key, value)
    await session.flush()
    return producer_view(row, principal)


async def list_producers(*, session: AsyncSession, principal: Principal | None, municipality: str | None,
                         organization: int | None, params: PageParams) -> tuple[list[ProducerOut], str | None]:
    after = _cursor_value(params, int)
    query = select(Producer).order_by(Producer.id).limit(params.limit + 1)
    if municipality:
        query = query.where(Producer.municipality_code == municipality)
    if organization is not None:
        query = query.where(Producer.organization_id == organization)
    if after is not None:
        query = query.where(Producer.id > after)
    rows = list((await session.execute(query)).scalars())
    rows, cursor = make_page(rows, params.limit, lambda r: [r.id])
    return [producer_view(r, principal) for r in rows], cursor
