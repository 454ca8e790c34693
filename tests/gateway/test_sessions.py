"""Sessions end when asked: logout revokes the refresh token and its family; deactivating an
account revokes its refresh tokens and its access tokens stop working in the gateway at once and
in the services at their next revocation refresh (at most a minute)."""

import httpx
import pytest

from services.common.http import ServiceClient
from services.common.revocations import MAX_POLL_SECONDS, RevocationList, gateway_source
from services.common.settings import ServiceSettings
from tests.gateway.conftest import probe_service, register_and_login, running_gateway

ADMIN = {"role": "admin", "account_id": 1}


async def _refresh(client, token: str):
    return await client.post("/api/auth/refresh", json={"refresh_token": token})


async def test_a_stolen_refresh_token_is_worthless_after_its_owner_logs_out(backend, migrated, keys):
    async with running_gateway(migrated, backend, keys) as gw, gw.client() as client:
        phone = await register_and_login(client, login="celia@ejemplo.bo")
        rotated = (await _refresh(client, phone["refresh_token"])).json()  # same family
        laptop = (await client.post("/api/auth/login", json={"login": "celia@ejemplo.bo",
                                                            "password": "una clave larga"})).json()
        out = await client.post("/api/auth/logout", json={"refresh_token": rotated["refresh_token"]})
        assert out.status_code == 204
        stolen = await _refresh(client, rotated["refresh_token"])
        assert stolen.status_code == 401 and stolen.json()["error"]["code"] == "refresh_token_revoked"
        # the other session (another login, another family) goes on
        assert (await _refresh(client, laptop["refresh_token"])).status_code == 200
        # logging out twice, or with an expired token, is not an error
        again = await client.post("/api/auth/logout", json={"refresh_token": rotated["refresh_token"]})
        assert again.status_code == 204
        forged = await client.post("/api/auth/logout", json={"refresh_token": "not.a.token"})
        assert forged.status_code == 401


async def test_logging_out_with_an_older_token_of_the_family_ends_the_newest_too(migrated, keys):
    async with running_gateway(migrated, "sqlite", keys) as gw, gw.client() as client:
        first = await register_and_login(client, login="+591 71234567")
        newest = (await _refresh(client, first["refresh_token"])).json()
        assert (await client.post("/api/auth/logout", json={"refresh_token": first["refresh_token"]})
                ).status_code == 204
        assert (await _refresh(client, newest["refresh_token"])).status_code == 401


async def _deactivate(client, keys, account_id: int, **change):
    r = await client.patch(f"/api/auth/accounts/{account_id}", json=change or {"is_active": False},
                           headers=keys.headers(**ADMIN))
    assert r.status_code == 200, r.text
    return r.json()


async def test_a_deactivated_account_is_signed_out_everywhere_in_the_gateway(backend, migrated, keys):
    async with running_gateway(migrated, backend, keys) as gw, gw.client() as client:
        tokens = await register_and_login(client, login="mala@ejemplo.bo")
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        me = (await client.get("/api/auth/me", headers=bearer)).json()
        await _deactivate(client, keys, me["id"])
        refused = await client.get("/api/auth/me", headers=bearer)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "token_revoked"
        assert (await _refresh(client, tokens["refresh_token"])).status_code == 401
        relogin = await client.post("/api/auth/login", json={"login": "mala@ejemplo.bo",
                                                            "password": "una clave larga"})
        assert relogin.status_code == 403
        # another gateway process learns it from the table at its next refresh
        fresh = RevocationList(gw.app.state.spec.revocation_source(gw.app))
        await fresh.refresh()
        assert fresh.is_revoked(me["id"], keys.verifier.verify(tokens["access_token"]).claims["iat"])


async def test_a_deactivated_accounts_token_is_refused_by_the_services(migrated, keys, tmp_path):
    gateway: list[ServiceClient] = []  # the service asks the gateway started below

    async def ask_the_gateway():
        return await gateway_source(gateway[0])()

    revocations = RevocationList(ask_the_gateway)
    async with probe_service(keys, tmp_path, verifier=keys.verifier.with_revocations(revocations)) as url, \
            running_gateway(migrated, "sqlite", keys, catalog_url=url) as gw, gw.client() as client:
        gateway.append(ServiceClient("gateway", "http://gateway", secret=gw.app.state.service_secret,
                                     caller="probe", transport=httpx.ASGITransport(app=gw.asgi)))
        try:
            tokens = await register_and_login(client, login="mala@ejemplo.bo")
            bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
            assert (await client.get("/api/catalog/whoami", headers=bearer)).status_code == 200
            me = (await client.get("/api/auth/me", headers=bearer)).json()
            await _deactivate(client, keys, me["id"])
            await revocations.refresh()  # what each service's background task does every 15 s
            refused = await client.get("/api/catalog/whoami", headers=bearer)
            assert refused.status_code == 401 and refused.json()["error"]["code"] == "token_revoked"
        finally:
            await gateway[0].aclose()


def test_services_refresh_the_revocations_at_least_once_a_minute():
    assert ServiceSettings().token_revocation_poll_seconds <= MAX_POLL_SECONDS == 60


async def test_a_changed_role_outdates_the_access_token_but_a_refresh_gives_the_new_one(migrated, keys):
    async with running_gateway(migrated, "sqlite", keys) as gw, gw.client() as client:
        tokens = await register_and_login(client, login="org@ejemplo.bo", role="organization")
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        me = (await client.get("/api/auth/me", headers=bearer)).json()
        await _deactivate(client, keys, me["id"], role="consumer")
        assert (await client.get("/api/auth/me", headers=bearer)).status_code == 401
        renewed = await _refresh(client, tokens["refresh_token"])
        assert renewed.status_code == 200
        new_bearer = {"Authorization": f"Bearer {renewed.json()['access_token']}"}
        assert (await client.get("/api/auth/me", headers=new_bearer)).json()["role"] == "consumer"


@pytest.mark.parametrize("headers", [{}, {"X-Service-Key": "guessed"}])
async def test_outsiders_cannot_read_the_revocation_list(migrated, keys, headers):
    async with running_gateway(migrated, "sqlite", keys) as gw, gw.client() as client:
        assert (await client.get("/internal/token-revocations", headers=headers)).status_code == 403
