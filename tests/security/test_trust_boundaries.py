"""Self-registered organizations: anyone may register one, nobody gets its powers until staff link it
to the registry organization it speaks for."""

from tests.security.world import world

REGISTRATION = {"email": "coop@ejemplo.bo", "password": "una clave larga", "name": "Cooperativa Falsa",
                "role": "organization"}


async def _register_and_log_in(gateway) -> tuple[dict, str]:
    created = await gateway.post("/api/auth/register", json=REGISTRATION)
    assert created.status_code == 201, created.text
    login = await gateway.post("/api/auth/login", json={"login": REGISTRATION["email"],
                                                        "password": REGISTRATION["password"]})
    assert login.status_code == 200, login.text
    return created.json(), login.json()["access_token"]


async def test_unverified_organization_cannot_receive_goods(migrated, keys, backend):
    async with world(migrated, keys, backend) as w:
        account, token = await _register_and_log_in(w.clients["gateway"])
        assert account["verified"] is False and account["organization_id"] is None
        me = {"Authorization": f"Bearer {token}"}
        delivery = w.clients["delivery"]
        listed = await delivery.get("/consignments", headers=me)
        read = await delivery.get("/consignments/1", headers=me)
        received = await delivery.post("/consignments/1/receive", headers=me,
                                       json={"lines": [{"product_id": 1, "received_quantity": "200"}]})
        assert listed.status_code == 200 and listed.json()["items"] == []  # it sees none
        assert (read.status_code, received.status_code) == (403, 403)
        untouched = await delivery.get("/consignments/1", headers=w.headers("coordinator_a"))
        assert untouched.json()["status"] == "pending"
        # its own profile is the one thing it may change
        renamed = await w.clients["gateway"].patch("/api/auth/me", json={"name": "Cooperativa Illimani"}, headers=me)
        assert renamed.status_code == 200 and renamed.json()["name"] == "Cooperativa Illimani"


async def test_staff_verify_an_organization_account_and_its_token_then_speaks_for_it(migrated, keys, backend):
    async with world(migrated, keys, backend) as w:
        gateway = w.clients["gateway"]
        account, _ = await _register_and_log_in(gateway)
        path = f"/api/auth/accounts/{account['id']}/verify"
        for outsider in ("consumer_a", "organization_a", "municipality_a", "unverified_organization"):
            refused = await gateway.post(path, json={"organization_id": 1}, headers=w.headers(outsider))
            assert refused.status_code == 403, outsider
        unknown = await gateway.post(path, json={"organization_id": 999}, headers=w.headers("coordinator_a"))
        assert unknown.status_code == 404
        not_an_organization = await gateway.post("/api/auth/accounts/501/verify", json={"organization_id": 1},
                                                 headers=w.headers("coordinator_a"))
        assert not_an_organization.status_code == 422
        verified = await gateway.post(path, json={"organization_id": 1}, headers=w.headers("coordinator_a"))
        assert verified.status_code == 200, verified.text
        assert verified.json()["verified"] is True and verified.json()["organization_id"] == 1
        moved = await gateway.post(path, json={"organization_id": 2}, headers=w.headers("coordinator_b"))
        assert moved.status_code == 409
        login = await gateway.post("/api/auth/login", json={"login": REGISTRATION["email"],
                                                            "password": REGISTRATION["password"]})
        principal = keys.verifier.verify(login.json()["access_token"])
        assert principal.organization_id == 1 and not principal.is_unverified_organization
        members = await w.clients["catalog"].get("/organizations/1/memberships",
                                                 headers={"Authorization": f"Bearer {login.json()['access_token']}"})
        assert members.status_code == 200


async def test_a_producer_cannot_open_her_accounts_to_an_organization_she_is_not_a_member_of(migrated, keys, backend):
    async with world(migrated, keys, backend) as w:
        payments = w.clients["payments"]
        declared = await payments.put("/producers/5/profile", json={"organization_id": 1},
                                      headers=w.headers("producer_b"))
        assert declared.status_code == 403 and declared.json()["error"]["code"] == "membership_required"
        assert (await payments.get("/producers/5/receivables", headers=w.headers("organization_a"))).status_code == 403
