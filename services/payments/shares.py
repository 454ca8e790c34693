"""Organization shares: the commission an organization takes on its members' sales.

A rate is a percentage of the member's accepted sales in a cycle, kept with its history: setting a
new rate closes the one in force (`valid_to`) and opens the new one, so what applied when is never
lost. The rate in force when a cycle's settlement is made final is the one taken
(services.payments.final_settlement); `collects_for_members` says the organization receives its
members' payouts and passes them on.
"""

from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.tables import utcnow
from services.payments.models import organization_shares

NO_SHARE = Decimal("0")


async def set_share(*, session: AsyncSession, organization_id: int, rate: Decimal, collects_for_members: bool,
                    set_by: int | None):
    """Open a new rate for the organization, closing the one in force; returns the new row."""
    now = utcnow()
    # lock the organization's current rate so two changes at once leave one in force
    current = select(organization_shares.c.id).where(organization_shares.c.organization_id == organization_id,
                                                     organization_shares.c.valid_to.is_(None))
    if session.bind.dialect.name == "postgresql":
        current = current.with_for_update()
    open_ids = (await session.execute(current)).scalars().all()
    if open_ids:
        await session.execute(update(organization_shares).where(organization_shares.c.id.in_(open_ids))
                              .values(valid_to=now))
    result = await session.execute(organization_shares.insert().values(
        organization_id=organization_id, rate=rate, collects_for_members=collects_for_members,
        valid_from=now, valid_to=None, set_by=set_by).returning(organization_shares.c.id))
    new_id = result.scalar_one()
    return (await session.execute(select(organization_shares).where(organization_shares.c.id == new_id))).one()


async def share_in_force(*, session: AsyncSession, organization_id: int | None):
    """The organization's rate in force now, or None (no organization, or it never set one)."""
    if organization_id is None:
        return None
    return (await session.execute(select(organization_shares).where(
        organization_shares.c.organization_id == organization_id, organization_shares.c.valid_to.is_(None))
        .order_by(organization_shares.c.id.desc()).limit(1))).one_or_none()


async def share_history(*, session: AsyncSession, organization_id: int) -> list:
    return (await session.execute(select(organization_shares)
                                  .where(organization_shares.c.organization_id == organization_id)
                                  .order_by(organization_shares.c.id.desc()))).all()
