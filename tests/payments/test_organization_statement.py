"""An organization's statement: per member what was accepted, the fees, what she is owed and what was
collected, with the totals; only the organization's own account (and admins) read it."""

from sqlalchemy import update

from services.payments.models import receivables
from tests.payments.test_advances import delivered_goods


async def test_the_organization_reads_each_members_totals_and_nobody_else_does(db, client, keys):
    await delivered_goods(db, producer=7, consignments=((3000, "100.00"), (3001, "150.00")))
    await delivered_goods(db, cycle=31, producer=8, consignments=((3002, "40.50"),))
    await delivered_goods(db, cycle=32, producer=9, consignments=((3003, "70.00"),))
    async with db.session() as s:  # the organization each was a member of when her goods were received
        await s.execute(update(receivables).where(receivables.c.producer_id.in_([7, 8])).values(organization_id=3))
        await s.execute(update(receivables).where(receivables.c.producer_id == 9).values(organization_id=4))
    ours = await client.get("/organizations/3/members-statement", headers=keys.headers("organization", organization_id=3))
    assert ours.status_code == 200, ours.text
    body = ours.json()
    by_member = {m["producer_id"]: m for m in body["members"]}
    assert set(by_member) == {7, 8}
    assert (by_member[7]["deliveries"], by_member[7]["accepted_value"], by_member[8]["accepted_value"]) == \
        (2, "250.00", "40.50")
    assert body["totals"]["accepted_value"] == "290.50"
    assert body["totals"]["amount"] == f"{sum(float(m['amount']) for m in body['members']):.2f}"
    for outsider in (keys.headers("organization", organization_id=4), keys.headers("producer", producer_id=7),
                     keys.headers("organization", account_id=700)):  # another, a member, an unverified one
        assert (await client.get("/organizations/3/members-statement", headers=outsider)).status_code == 403
    assert (await client.get("/organizations/3/members-statement", headers=keys.headers("admin"))).status_code == 200
