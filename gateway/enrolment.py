"""A producer who registered her own account becomes a producer of the registry.

Registering (`/api/auth/register`) gives a producer account with no producer behind it: it can sell
nothing. The producer herself then says who she is (gender, community, municipality): the catalog
creates her registry record and her account is linked to it, so her next token speaks for that
producer and for nobody else. Only an account with no producer yet may do this, once; linking an
account to an EXISTING producer stays an administrator's act (`accounts.update_account`).
Joining an organization is a separate request the organization answers (catalog `memberships`).
"""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.models import Account
from services.common.auth import Principal, Role
from services.common.errors import Conflict, Forbidden
from services.common.http import ServiceClient
from services.common.tables import utcnow


async def enrol_producer(*, session: AsyncSession, principal: Principal, catalog: ServiceClient,
                         gender: str, community: str | None, municipality_code: str) -> Account:
    if principal.role != Role.producer:
        raise Forbidden("only a producer account registers itself as a producer", code="role_required")
    account = (await session.execute(select(Account).where(Account.id == principal.account_id)
                                     .with_for_update())).scalar_one()
    linked = account.producer_id or principal.producer_id  # the row, or a token issued with a link
    if linked is not None:
        raise Conflict(f"this account already speaks for producer {linked}", code="already_enrolled",
                       details={"producer_id": linked})
    producer = await catalog.call("POST", "/internal/producers", json={
        "name": account.name, "gender": gender, "phone": account.phone, "community": community,
        "municipality_code": municipality_code})
    account.producer_id = producer["id"]
    account.updated_at = utcnow()
    await session.flush()
    return account
