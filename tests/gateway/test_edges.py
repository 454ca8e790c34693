"""The gateway's edges: its own routes have the proxy's body limit; a client cannot choose its
address with X-Forwarded-For; services' metrics are not public; the API docs load nothing from a CDN."""

import re

import pytest
from sqlalchemy import func, select

from gateway.forwarded import client_address, parse_allowed
from gateway.models import Account
from services.common.auth import SERVICE_KEY_HEADER
from tests.conftest import app_client, service_settings
from tests.gateway.conftest import running_gateway


async def _chunks(n: int, size: int):
    for _ in range(n):
        yield b"{" + b" " * (size - 1)


async def test_an_oversized_body_to_the_gateways_own_routes_is_refused_with_413(migrated, keys):
    async with running_gateway(migrated, "sqlite", keys, proxy_max_body_bytes=1000) as gw, gw.client() as client:
        declared = await client.post("/api/auth/register", content=b"{" + b" " * 5000,
                                     headers={"content-type": "application/json"})
        assert declared.status_code == 413 and declared.json()["error"]["code"] == "payload_too_large"
        streamed = await client.post("/api/auth/register", content=_chunks(3, 600),
                                     headers={"content-type": "application/json"})
        assert streamed.status_code == 413 and streamed.json()["error"]["code"] == "payload_too_large"
        form = await client.post("/ingresar", content=_chunks(3, 600),
                                 headers={"content-type": "application/x-www-form-urlencoded"})
        assert form.status_code == 413
        async with gw.app.state.db.session() as session:
            assert await session.scalar(select(func.count()).select_from(Account)) == 0
        fine = await client.post("/api/auth/register", json={"email": "ana@ejemplo.bo", "password": "una clave larga",
                                                              "name": "Ana"})
        assert fine.status_code == 201


async def test_a_forged_x_forwarded_for_does_not_change_the_clients_address(migrated, keys, probe_url):
    async with running_gateway(migrated, "sqlite", keys, catalog_url=probe_url) as gw, \
            gw.client("10.0.0.66") as attacker:
        seen = (await attacker.get("/api/catalog/echo/x", headers={"X-Forwarded-For": "10.0.0.7"})).json()
        assert seen["headers"]["x-forwarded-for"] == "10.0.0.66"


async def test_a_forged_x_forwarded_for_does_not_dodge_the_login_throttle(migrated, keys):
    async with running_gateway(migrated, "sqlite", keys, login_free_failures_per_address=3,
                               login_base_delay_seconds=600, rate_limit_auth_per_address=1000) as gw, \
            gw.client("10.0.0.66") as attacker:
        codes = [(await attacker.post("/api/auth/login", json={"login": f"u{n}@ejemplo.bo", "password": "x"},
                                      headers={"X-Forwarded-For": f"198.51.100.{n}"})).status_code
                 for n in range(4)]
        assert codes == [401, 401, 401, 429]


async def test_behind_a_trusted_proxy_each_client_keeps_its_own_address(migrated, keys, probe_url):
    async with running_gateway(migrated, "sqlite", keys, catalog_url=probe_url,
                               forwarded_allow_ips="10.0.0.1") as gw, gw.client("10.0.0.1") as proxy:
        seen = (await proxy.get("/api/catalog/echo/x", headers={"X-Forwarded-For": "203.0.113.9, 10.0.0.1"})).json()
        assert seen["headers"]["x-forwarded-for"] == "203.0.113.9"


@pytest.mark.parametrize(("peer", "header", "allowed", "client"), [
    ("10.0.0.66", "1.2.3.4", "", "10.0.0.66"),  # default: nobody is trusted
    ("10.0.0.66", "1.2.3.4", "10.0.0.1", "10.0.0.66"),  # not our proxy
    ("10.0.0.1", "1.2.3.4", "10.0.0.0/24", "1.2.3.4"),
    ("10.0.0.1", "6.6.6.6, 1.2.3.4, 10.0.0.2", "10.0.0.0/24", "1.2.3.4"),  # right-most untrusted hop
    ("10.0.0.1", None, "10.0.0.1", "10.0.0.1"),
    ("10.0.0.1", "1.2.3.4", "*", "1.2.3.4"),
])
def test_only_trusted_proxies_may_name_the_client(peer, header, allowed, client):
    assert client_address(peer, header, parse_allowed(allowed)) == client


async def test_a_services_metrics_need_the_service_secret_or_the_metrics_token(migrated, keys):
    from services.catalog.app import create_app as create_catalog

    url = migrated.url("catalog", "sqlite")
    app = create_catalog(service_settings("catalog", url, metrics_token="scraper-token"), verifier=keys.verifier)
    async with app_client(app) as client:
        assert (await client.get("/metrics")).status_code == 401
        assert (await client.get("/metrics", headers=keys.headers("admin", account_id=1))).status_code == 403
        assert (await client.get("/metrics", headers={SERVICE_KEY_HEADER: "guessed"})).status_code == 403
        with_key = await client.get("/metrics", headers={SERVICE_KEY_HEADER: app.state.service_secret})
        assert with_key.status_code == 200 and "http_requests" in with_key.text
        scraper = await client.get("/metrics", headers={"Authorization": "Bearer scraper-token"})
        assert scraper.status_code == 200


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_api_docs_load_their_scripts_from_us_not_a_cdn(migrated, keys, page):
    async with running_gateway(migrated, "sqlite", keys) as gw, gw.client() as client:
        html = (await client.get(page)).text
        assert "/api/openapi.json" in html
        assert not re.search(r"https?://", re.sub(r"https?://(www\.)?w3\.org[^\"']*", "", html))
        assets = re.findall(r"""(?:src|href)=["'](/docs-assets/[^"']+)""", html)
        assert assets
        for asset in assets:
            answer = await client.get(asset)
            assert answer.status_code == 200 and len(answer.content) > 1000
