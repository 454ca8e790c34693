"""An organization's statement: what its members delivered and were owed, cycle after cycle.

Receivables carry the organization the producer belonged to when her goods were received, so the
statement is the organization's at that time (a member who left keeps her past lines here). One
row per member, with the organization's totals; read by the organization's own account and admins.
"""

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.money import from_centavos
from services.payments.models import producer_profiles, receivables

SUMMED = ("accepted_value", "fees", "amount", "collected")


def _bs(centavos: int) -> str:
    return f"{from_centavos(int(centavos or 0)):.2f}"


async def organization_statement(*, session: AsyncSession, organization_id: int) -> dict:
    query = (select(receivables.c.producer_id, func.count(), func.count(func.distinct(receivables.c.cycle_id)),
                    *(func.coalesce(func.sum(receivables.c[name]), 0) for name in SUMMED))
             .where(receivables.c.organization_id == organization_id)
             .group_by(receivables.c.producer_id))
    rows = (await session.execute(query)).all()
    names = dict((await session.execute(select(producer_profiles.c.producer_id, producer_profiles.c.name).where(
        producer_profiles.c.producer_id.in_([r[0] for r in rows])))).all()) if rows else {}
    members, totals = [], dict.fromkeys(SUMMED, 0)
    for producer_id, deliveries, cycles, *sums in rows:
        member = {"producer_id": producer_id, "name": names.get(producer_id), "deliveries": deliveries,
                  "cycles": cycles}
        for name, value in zip(SUMMED, sums, strict=True):
            member[name] = _bs(value)
            totals[name] += int(value or 0)
        members.append(member)
    members.sort(key=lambda m: (m["name"] or "", m["producer_id"]))
    return {"organization_id": organization_id, "members": members,
            "totals": {name: _bs(value) for name, value in totals.items()}}
