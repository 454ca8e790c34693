"""A producer who registers herself: her account gets its own registry producer, once, and her next
token speaks for that producer and nobody else; linking to an existing producer stays an admin's act."""

from tests.security.world import world

PHONE, PASSWORD = "+591 71555111", "una clave larga"
WHO = {"gender": "female", "community": "Chojñapata", "municipality_code": "020101"}


async def _producer_account(gateway) -> tuple[dict, dict]:
    created = await gateway.post("/api/auth/register", json={"phone": PHONE, "password": PASSWORD,
                                                             "name": "Juana Mamani", "role": "producer"})
    assert created.status_code == 201, created.text
    tokens = (await gateway.post("/api/auth/login", json={"login": PHONE, "password": PASSWORD})).json()
    return created.json(), tokens


async def test_a_self_registered_producer_gets_her_own_producer_once(migrated, keys, backend):
    async with world(migrated, keys, backend) as w:
        gateway, catalog = w.clients["gateway"], w.clients["catalog"]
        account, tokens = await _producer_account(gateway)
        assert account["producer_id"] is None
        me = {"Authorization": f"Bearer {tokens['access_token']}"}
        bad_place = await gateway.post("/api/auth/me/producer", headers=me, json={**WHO, "municipality_code": "999999"})
        assert bad_place.status_code == 422 and bad_place.json()["error"]["code"] == "unknown_municipality"
        assert (await gateway.get("/api/auth/me", headers=me)).json()["producer_id"] is None  # nothing left behind
        refused = await gateway.post("/api/auth/me/producer", headers=w.headers("consumer_a"), json=WHO)
        assert refused.status_code == 403
        made = await gateway.post("/api/auth/me/producer", headers=me, json=WHO)
        assert made.status_code == 201, made.text
        producer_id = made.json()["producer_id"]
        producer = (await catalog.get(f"/producers/{producer_id}", headers=me)).json()
        assert (producer["name"], producer["community"], producer["municipality_code"], producer["organization_id"]) \
            == ("Juana Mamani", "Chojñapata", "020101", None)
        assert producer["phone"] is None  # her old token does not speak for her producer yet
        again = await gateway.post("/api/auth/me/producer", headers=me, json=WHO)
        assert again.status_code == 409 and again.json()["error"]["code"] == "already_enrolled"

        renewed = (await gateway.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})).json()
        mine = {"Authorization": f"Bearer {renewed['access_token']}"}
        assert keys.verifier.verify(renewed["access_token"]).producer_id == producer_id
        assert (await catalog.get(f"/producers/{producer_id}", headers=mine)).json()["phone"] == "+59171555111"
        offered = await catalog.post("/products", headers=mine, json={
            "name": "Papa huaycha", "category": "tuberculos", "unit": "arroba", "price": "60.00", "available": "10"})
        assert offered.status_code == 201 and offered.json()["producer_id"] == producer_id
        foreign = await catalog.patch("/products/1", headers=mine, json={"price": "1.00"})  # producer A's
        assert foreign.status_code == 403
        asked = await catalog.post(f"/producers/{producer_id}/memberships", headers=mine, json={"organization_id": 1})
        assert asked.status_code == 201 and asked.json()["status"] == "pending"
        # the catalog's enrolment is the gateway's alone
        direct = await catalog.post("/internal/producers", headers=mine, json={"name": "X", **WHO})
        assert direct.status_code == 403
