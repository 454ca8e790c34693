"""Accounts through the gateway: register, log in by phone or e-mail, refresh once, who am I."""

import pytest

from gateway.accounts import normalize_phone
from tests.gateway.conftest import register_and_login, running_gateway


@pytest.mark.parametrize("typed", ["71234567", "+591 71234567", "591 7123-4567", "00591 (7) 123 4567",
                                   "+591.7.123.45.67"])
def test_bolivian_mobile_numbers_are_recognised_however_they_are_typed(typed):
    assert normalize_phone(typed) == "+59171234567"


def test_land_lines_and_foreign_numbers_are_kept_in_e164():
    assert normalize_phone("2 2412345") == "+59122412345"
    assert normalize_phone("+54 9 11 2345 6789") == "+5491123456789"


@pytest.mark.parametrize("typed", ["1234567", "7123456", "812345678", "+591 91234567", "71 23 45 6x"])
def test_numbers_that_cannot_be_bolivian_are_refused(typed):
    with pytest.raises(ValueError):
        normalize_phone(typed)


async def test_register_then_log_in_by_phone_in_another_spelling(backend, migrated, keys):
    async with running_gateway(migrated, backend, keys) as gw, gw.client() as client:
        r = await client.post("/api/auth/register", json={"phone": "+591 7123-4567", "password": "clave segura",
                                                          "name": "Juana Mamani", "role": "producer"})
        assert r.status_code == 201, r.text
        account = r.json()
        assert account["phone"] == "+59171234567" and account["role"] == "producer"
        assert "password" not in r.text and "hash" not in r.text
        login = await client.post("/api/auth/login", json={"login": "71234567", "password": "clave segura"})
        assert login.status_code == 200, login.text
        tokens = login.json()
        assert tokens["token_type"] == "bearer" and tokens["expires_in"] > 0 and tokens["refresh_token"]
        me = await client.get("/api/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert me.status_code == 200
        assert me.json()["id"] == account["id"] and me.json()["name"] == "Juana Mamani"
        assert me.json()["created_at"] == account["created_at"]  # the same instant, in UTC, on both databases


async def test_register_then_log_in_by_email_in_any_case(backend, migrated, keys):
    async with running_gateway(migrated, backend, keys) as gw, gw.client() as client:
        r = await client.post("/api/auth/register", json={"email": "Ana.Quispe@Ejemplo.bo", "password": "clave segura",
                                                          "name": "Ana Quispe"})
        assert r.status_code == 201, r.text
        assert r.json()["email"] == "ana.quispe@ejemplo.bo" and r.json()["role"] == "consumer"
        login = await client.post("/api/auth/login", json={"email": "ANA.QUISPE@ejemplo.bo",
                                                           "password": "clave segura"})
        assert login.status_code == 200, login.text


async def test_wrong_password_and_unknown_account_are_refused_alike(backend, migrated, keys):
    async with running_gateway(migrated, backend, keys) as gw, gw.client() as client:
        await register_and_login(client, login="rosa@ejemplo.bo")
        wrong = await client.post("/api/auth/login", json={"login": "rosa@ejemplo.bo", "password": "otra clave"})
        unknown = await client.post("/api/auth/login", json={"login": "nadie@ejemplo.bo", "password": "otra clave"})
        assert wrong.status_code == unknown.status_code == 401
        assert wrong.json() == unknown.json()
        assert wrong.json()["error"]["code"] == "invalid_credentials"


async def test_a_phone_or_email_registers_only_once(backend, migrated, keys):
    async with running_gateway(migrated, backend, keys) as gw, gw.client() as client:
        first = await client.post("/api/auth/register", json={"phone": "71234567", "password": "clave segura",
                                                              "name": "Juana"})
        assert first.status_code == 201
        again = await client.post("/api/auth/register", json={"phone": "+591 7123 4567", "password": "otra clave",
                                                              "name": "Otra"})
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "account_exists"
        assert again.json()["error"]["details"] == {"field": "phone"}
        await client.post("/api/auth/register", json={"email": "a@ejemplo.bo", "password": "clave segura",
                                                      "name": "A"})
        dup = await client.post("/api/auth/register", json={"email": "A@EJEMPLO.BO", "password": "clave segura",
                                                            "name": "B"})
        assert dup.status_code == 409


async def test_privileged_roles_and_links_need_an_admin(backend, migrated, keys):
    async with running_gateway(migrated, backend, keys) as gw, gw.client() as client:
        body = {"email": "muni@ejemplo.bo", "password": "clave segura", "name": "GAM La Paz",
                "role": "municipality", "municipality_code": "020101"}
        refused = await client.post("/api/auth/register", json=body)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "role_requires_admin"
        consumer = await client.get("/api/auth/me", headers=keys.headers("consumer"))  # unknown account id
        assert consumer.status_code == 404
        steal = await client.post("/api/auth/register", json={"phone": "71234567", "password": "clave segura",
                                                              "name": "X", "role": "producer", "producer_id": 1})
        assert steal.status_code == 403 and steal.json()["error"]["code"] == "links_require_admin"
        admin = keys.headers("admin", account_id=1)
        created = await client.post("/api/auth/register", json=body, headers=admin)
        assert created.status_code == 201, created.text
        assert created.json()["municipality_code"] == "020101"
        no_link = await client.post("/api/auth/register", headers=admin, json={
            "email": "fin@ejemplo.bo", "password": "clave segura", "name": "Banco", "role": "financier"})
        assert no_link.status_code == 422 and no_link.json()["error"]["code"] == "link_required"


async def test_links_and_role_travel_in_the_token(backend, migrated, keys):
    async with running_gateway(migrated, backend, keys) as gw, gw.client() as client:
        admin = keys.headers("admin", account_id=1)
        r = await client.post("/api/auth/register", headers=admin, json={
            "phone": "69876543", "password": "clave segura", "name": "Sabina Choque", "role": "producer",
            "producer_id": 12, "organization_id": 3, "municipality_code": "021303"})
        assert r.status_code == 201, r.text
        tokens = (await client.post("/api/auth/login", json={"phone": "69876543", "password": "clave segura"})).json()
        principal = keys.verifier.verify(tokens["access_token"])
        assert (principal.role, principal.producer_id, principal.organization_id, principal.municipality_code) == (
            "producer", 12, 3, "021303")
        assert principal.name == "Sabina Choque"
        patched = await client.patch(f"/api/auth/accounts/{r.json()['id']}", headers=admin,
                                     json={"organization_id": 4})
        assert patched.status_code == 200 and patched.json()["organization_id"] == 4
        assert (await client.patch(f"/api/auth/accounts/{r.json()['id']}", json={"is_active": False},
                                   headers=keys.headers("producer"))).status_code == 403


async def test_a_refresh_token_works_once_and_a_replay_signs_the_account_out(backend, migrated, keys):
    async with running_gateway(migrated, backend, keys, refresh_reuse_grace_seconds=0) as gw, \
            gw.client() as client:
        tokens = await register_and_login(client, login="celia@ejemplo.bo")
        first = await client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert first.status_code == 200, first.text
        newer = first.json()
        assert newer["refresh_token"] != tokens["refresh_token"]
        assert keys.verifier.verify(newer["access_token"]).role == "consumer"
        replay = await client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert replay.status_code == 401
        assert replay.json()["error"]["code"] == "refresh_token_reused"
        # the replay revoked the pair handed out meanwhile: whoever holds it must log in again
        stolen = await client.post("/api/auth/refresh", json={"refresh_token": newer["refresh_token"]})
        assert stolen.status_code == 401
        assert (await client.post("/api/auth/refresh", json={"refresh_token": tokens["access_token"]})
                ).status_code == 401


async def test_bad_input_is_a_clear_422_never_a_500(migrated, keys):
    async with running_gateway(migrated, "sqlite", keys) as gw, gw.client() as client:
        malformed = await client.post("/api/auth/login", content=b'{"login": "71234567", "password": ',
                                      headers={"content-type": "application/json"})
        assert malformed.status_code == 422
        assert malformed.json()["error"]["code"] == "validation_error"
        assert "JSON" in malformed.json()["error"]["message"]
        short = await client.post("/api/auth/register", json={"phone": "71234567", "password": "corta", "name": "X"})
        assert short.status_code == 422 and "password" in short.json()["error"]["message"]
        bad_phone = await client.post("/api/auth/register", json={"phone": "12", "password": "clave segura",
                                                                  "name": "X"})
        assert bad_phone.status_code == 422 and "phone" in bad_phone.json()["error"]["message"]
        neither = await client.post("/api/auth/register", json={"password": "clave segura", "name": "X"})
        assert neither.status_code == 422 and "phone number or an e-mail" in neither.json()["error"]["message"]
        weird_login = await client.post("/api/auth/login", json={"login": "abc", "password": "x"})
        assert weird_login.status_code == 422
        not_object = await client.post("/api/auth/login", json=[1, 2])
        assert not_object.status_code == 422


async def test_unknown_routes_answer_404_in_the_error_shape(migrated, keys):
    async with running_gateway(migrated, "sqlite", keys) as gw, gw.client() as client:
        for path in ("/nowhere", "/api/nowhere/x", "/api/auth/nothing"):
            r = await client.get(path)
            assert r.status_code == 404, path
            assert r.json()["error"]["code"] == "not_found"
            assert r.headers["x-request-id"]


async def test_two_tabs_refreshing_at_once_do_not_sign_the_account_out(backend, migrated, keys):
    async with running_gateway(migrated, backend, keys) as gw, gw.client() as client:
        tokens = await register_and_login(client, login="teodora@ejemplo.bo")
        first = await client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        second = await client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert first.status_code == 200
        assert second.status_code == 401 and second.json()["error"]["code"] == "refresh_token_used"
        # the first tab's new pair still works
        again = await client.post("/api/auth/refresh", json={"refresh_token": first.json()["refresh_token"]})
        assert again.status_code == 200, again.text


async def test_an_admin_finds_accounts_by_a_part_of_the_name_and_the_organizations_to_verify(backend, migrated, keys):
    async with running_gateway(migrated, backend, keys) as gw, gw.client() as client:
        admin = keys.headers("admin", account_id=1)
        for login, name, role in (("coop@ejemplo.bo", "Cooperativa Sartawi", "organization"),
                                  ("ana@ejemplo.bo", "Ana Quispe", "consumer")):
            r = await client.post("/api/auth/register", json={"email": login, "password": "clave segura",
                                                              "name": name, "role": role})
            assert r.status_code == 201, r.text
        by_name = await client.get("/api/auth/accounts", headers=admin, params={"q": "QUISPE"})
        assert [a["email"] for a in by_name.json()] == ["ana@ejemplo.bo"]
        waiting = await client.get("/api/auth/accounts", headers=admin, params={"unverified": "true"})
        assert [(a["name"], a["verified"]) for a in waiting.json()] == [("Cooperativa Sartawi", False)]
        assert (await client.get("/api/auth/accounts", headers=keys.headers("coordinator"))).status_code == 403
