"""Who an event concerns, from the gateway's own accounts: the consumer named in it, or the
accounts that speak for a producer. Inactive accounts receive nothing."""

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.models import Account
from services.common.auth import Role


def as_id(value) -> int | None:
    """An id from a payload field, or None for anything that is not one (never raises)."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if 0 < number < 2**62 else None


async def accounts_by_id(*, session: AsyncSession, account_ids: Iterable) -> dict[int, Account]:
    ids = {i for i in (as_id(v) for v in account_ids) if i is not None}
    if not ids:
        return {}
    rows = (await session.execute(select(Account).where(Account.id.in_(ids), Account.is_active.is_(True)))).scalars()
    return {a.id: a for a in rows}


async def consumer(*, session: AsyncSession, account_id) -> list[Account]:
    found = await accounts_by_id(session=session, account_ids=[account_id])
    return list(found.values())


async def role_accounts(*, session: AsyncSession, role: Role, **links) -> list[Account]:
    """The active accounts of a role, optionally linked to an owner (`financier_id=3`); a link that
    is not an id finds nobody."""
    query = select(Account).where(Account.role == role.value, Account.is_active.is_(True))
    for field, value in links.items():
        owner_id = as_id(value)
        if owner_id is None:
            return []
        query = query.where(getattr(Account, field) == owner_id)
    return list((await session.execute(query.order_by(Account.id))).scalars())


async def producer_accounts(*, session: AsyncSession, producer_id) -> list[Account]:
    return await role_accounts(session=session, role=Role.producer, producer_id=producer_id)


async def municipality_accounts(*, session: AsyncSession, municipality_code: str | None) -> list[Account]:
    if not municipality_code:
        return []
    rows = await session.execute(select(Account).where(
        Account.municipality_code == municipality_code, Account.role == Role.municipality.value,
        Account.is_active.is_(True)).order_by(Account.id))
    return list(rows.scalars())


async def organization_accounts(*, session: AsyncSession, organization_id) -> list[Account]:
    """The verified accounts that speak for an organization (an unverified one has no organization_id)."""
    organization_id = as_id(organization_id)
    if organization_id is None:
        return []
    rows = await session.execute(select(Account).where(
        Account.organization_id == organization_id, Account.role == Role.organization.value,
        Account.is_active.is_(True)).order_by(Account.id))
    return list(rows.scalars())
