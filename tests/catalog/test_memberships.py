"""Membership: a producer asks to join, only the organization (verified) or an admin answers, and
only a confirmed membership brings the organization's certifications and its staff's powers."""

from datetime import date, timedelta

from tests.catalog.conftest import catalog, seed_organization, seed_producer, seed_product


async def _certify_organization(client, keys, org):
    r = await client.post(f"/organizations/{org}/certifications", headers=keys.headers("coordinator"), json={
        "kind": "ecologico_sgp", "status": "certificado", "issuer": "Comité Ecológico Municipal",
        "valid_until": str(date.today() + timedelta(days=200))})
    assert r.status_code == 201, r.text


async def test_a_producer_cannot_declare_herself_a_member_to_inherit_certifications(backend, migrated, keys):
    async with catalog(migrated, keys, backend) as (client, db):
        org = await seed_organization(db)
        await _certify_organization(client, keys, org)
        rosa = await seed_producer(db, name="Rosa Apaza")
        papa = await seed_product(db, producer_id=rosa)
        self_made = await client.patch(f"/producers/{rosa}", json={"organization_id": org},
                                       headers=keys.headers("producer", producer_id=rosa))
        assert self_made.status_code == 403
        assert self_made.json()["error"]["code"] == "membership_required"
        asked = await client.post(f"/producers/{rosa}/memberships", json={"organization_id": org},
                                  headers=keys.headers("producer", producer_id=rosa))
        assert asked.status_code == 201 and asked.json()["status"] == "pending"
        # pending: no certification, and the organization does not speak for her yet
        assert (await client.get(f"/products/{papa}")).json()["certified"] is False
        as_org = keys.headers("organization", organization_id=org)
        assert (await client.patch(f"/producers/{rosa}", json={"community": "X"}, headers=as_org)).status_code == 403
        confirmed = await client.post(f"/memberships/{asked.json()['id']}/confirm", headers=as_org)
        assert confirmed.status_code == 200 and confirmed.json()["status"] == "confirmed"
        product = (await client.get(f"/products/{papa}")).json()
        assert product["certified"] is True and product["certifications"] == ["ecologico_sgp"]
        assert (await client.patch(f"/producers/{rosa}", json={"community": "X"}, headers=as_org)).status_code == 200


async def test_only_the_organization_or_an_admin_answers_a_request_to_join(backend, migrated, keys):
    async with catalog(migrated, keys, backend) as (client, db):
        org = await seed_organization(db)
        other = await seed_organization(db, name="Asociación Otra")
        rosa = await seed_producer(db, name="Rosa Apaza")
        asked = await client.post(f"/producers/{rosa}/memberships", json={"organization_id": org},
                                  headers=keys.headers("producer", producer_id=rosa))
        membership = asked.json()["id"]
        again = await client.post(f"/producers/{rosa}/memberships", json={"organization_id": other},
                                  headers=keys.headers("producer", producer_id=rosa))
        assert again.status_code == 409 and again.json()["error"]["code"] == "membership_pending"
        for outsider in (keys.headers("organization", organization_id=other), keys.headers("coordinator"),
                         keys.headers("producer", producer_id=rosa), keys.headers("organization")):
            refused = await client.post(f"/memberships/{membership}/confirm", headers=outsider)
            assert refused.status_code == 403, refused.text
        other_asks = await client.post(f"/producers/{rosa}/memberships", json={"organization_id": org},
                                       headers=keys.headers("producer", producer_id=rosa + 1))
        assert other_asks.status_code == 403
        rejected = await client.post(f"/memberships/{membership}/reject", headers=keys.headers("admin"))
        assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
        assert (await client.post(f"/memberships/{membership}/confirm",
                                  headers=keys.headers("admin"))).status_code == 409
        assert (await client.get(f"/producers/{rosa}")).json()["organization_id"] is None


async def test_unverified_organization_cannot_manage_members(backend, migrated, keys):
    """A self-registered organization account (no organization in its token) has no powers here."""
    async with catalog(migrated, keys, backend) as (client, db):
        org = await seed_organization(db)
        juana = await seed_producer(db, organization_id=org)
        rosa = await seed_producer(db, name="Rosa Apaza")
        asked = await client.post(f"/producers/{rosa}/memberships", json={"organization_id": org},
                                  headers=keys.headers("producer", producer_id=rosa))
        unverified = keys.headers("organization")
        attempts = [
            client.post(f"/memberships/{asked.json()['id']}/confirm", headers=unverified),
            client.get(f"/organizations/{org}/memberships", headers=unverified),
            client.patch(f"/producers/{juana}", json={"community": "X"}, headers=unverified),
            client.patch(f"/organizations/{org}", json={"member_count": 99}, headers=unverified),
            client.post("/producers", headers=unverified, json={
                "name": "Nueva", "gender": "female", "municipality_code": "020101", "organization_id": org}),
            client.post("/products", headers=unverified, json={
                "producer_id": juana, "name": "Haba", "category": "hortalizas", "unit": "kg",
                "price": "8.00", "available": "10"}),
        ]
        for attempt in attempts:
            answer = await attempt
            assert answer.status_code == 403, answer.text
        assert (await client.get(f"/producers/{juana}", headers=unverified)).json()["phone"] is None


async def test_strangers_see_the_community_not_the_farm(backend, migrated, keys):
    async with catalog(migrated, keys, backend) as (client, db):
        juana = await seed_producer(db)
        herself = keys.headers("producer", producer_id=juana)
        farm = await client.patch(f"/producers/{juana}", json={"lat": -16.583127, "lon": -68.174561}, headers=herself)
        assert (farm.json()["lat"], farm.json()["lon"]) == (-16.583127, -68.174561)
        for stranger in ({}, keys.headers("consumer"), keys.headers("producer", producer_id=juana + 1)):
            public = (await client.get(f"/producers/{juana}", headers=stranger)).json()
            assert public["phone"] is None and public["community"] == "Achocalla"
            assert (public["lat"], public["lon"]) == (-16.58, -68.17)
        listed = (await client.get("/producers")).json()["items"]
        assert [(p["lat"], p["lon"], p["phone"]) for p in listed] == [(-16.58, -68.17, None)]
