"""The advance offer a producer reads before confirming: exactly what asking would make, nothing saved."""

from tests.payments.helpers import ledger_is_consistent
from tests.payments.test_advances import delivered_goods, receivable_ids, setup_financier


async def test_the_offer_is_what_asking_then_makes_and_saves_nothing(db, client, keys):
    await setup_financier(client, keys, auto="50.00")
    await delivered_goods(db)
    her = keys.headers("producer", producer_id=7)
    offer = await client.post("/advances/offer", json={"producer_id": 7, "amount": "150.00"}, headers=her)
    assert offer.status_code == 200, offer.text
    shown = offer.json()
    assert (shown["principal"], shown["fee"], shown["repay"], shown["policy_name"]) == \
        ("150.00", "3.00", "153.00", "Pronto pago")
    assert (await client.get("/advances", headers=her)).json() == []  # nothing asked yet
    ids, _ = await receivable_ids(client, keys)
    assert sorted(shown["receivable_ids"]) == sorted(ids)  # still eligible: none was claimed
    asked = (await client.post("/advances", json={"producer_id": 7, "amount": "150.00"}, headers=her)).json()
    assert (asked["principal"], asked["fee"], asked["expected_collection_on"], sorted(asked["receivable_ids"])) == \
        (shown["principal"], shown["fee"], shown["expected_collection_on"], sorted(shown["receivable_ids"]))
    too_much = await client.post("/advances/offer", json={"producer_id": 7, "amount": "900.00"}, headers=her)
    assert too_much.status_code == 409 and too_much.json()["error"]["code"] == "over_eligible_value"
    other = await client.post("/advances/offer", json={"producer_id": 7, "amount": "50.00"},
                              headers=keys.headers("producer", producer_id=8))
    assert other.status_code == 403
    await ledger_is_consistent(db)


async def test_her_organization_asks_for_a_members_advance_only_with_her_consent_recorded(db, client, keys):
    from services.payments.order_book import remember_producer

    await setup_financier(client, keys, auto=None)
    await delivered_goods(db)
    async with db.session() as s:  # producer 7 is a confirmed member of organization 3
        await remember_producer(session=s, producer_id=7, name="Doña Rosa", gender="female",
                                municipality_code="020101", organization_id=3)
    hers = keys.headers("organization", account_id=303, organization_id=3)
    body = {"producer_id": 7, "amount": "100.00"}
    offer = await client.post("/advances/offer", json=body, headers=hers)
    assert offer.status_code == 200 and offer.json()["fee"] == "2.00"
    without = await client.post("/advances", json=body, headers=hers)
    assert without.status_code == 422 and without.json()["error"]["code"] == "consent_required"
    other = await client.post("/advances", headers=keys.headers("organization", account_id=304, organization_id=4),
                              json={**body, "consent": "Dijo que sí en la reunión del lunes"})
    assert other.status_code == 403
    assert (await client.get("/advances", headers=keys.headers("producer", producer_id=7))).json() == []
    said = "Doña Rosa dijo que sí en la reunión del 25/11, ante la secretaria"
    asked = await client.post("/advances", json={**body, "consent": said}, headers=hers)
    assert asked.status_code == 201, asked.text
    assert (asked.json()["consent"], asked.json()["requested_by"]) == (said, 303)
    seen = (await client.get("/advances", headers=keys.headers("producer", producer_id=7))).json()
    assert [(a["id"], a["consent"]) for a in seen] == [(asked.json()["id"], said)]  # she sees who asked and how
    await ledger_is_consistent(db)
