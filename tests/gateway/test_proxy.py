"""The proxy: services accept the gateway's tokens, requests arrive whole, private paths stay private,
and a service that is down or too slow is a quick 503, never a hang or a 500."""

import asyncio
import json
import time

import jwt
import pytest
from jwt.utils import base64url_encode

from gateway.tokens import TokenIssuer
from services.common.keys import ensure_signing_keys
from tests.conftest import service_settings, transactional_database
from tests.gateway.conftest import dead_url, register_and_login, running_gateway, serving


async def test_a_service_accepts_the_token_the_gateway_issued(backend, migrated, keys, probe_url):
    async with running_gateway(migrated, backend, keys, catalog_url=probe_url) as gw, gw.client() as client:
        tokens = await register_and_login(client, login="+591 71112233")
        r = await client.get("/api/catalog/whoami", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert r.status_code == 200, r.text
        me = (await client.get("/api/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})).json()
        assert r.json() == {"account_id": me["id"], "role": "consumer", "producer_id": None, "name": "Juana Mamani"}


async def test_expired_or_forged_tokens_are_refused_with_401(migrated, keys, probe_url, tmp_path):
    forger_key, _ = ensure_signing_keys(tmp_path / "other.pem", tmp_path / "other.pub")
    forged = TokenIssuer.from_file(forger_key).access_token(account_id=1, role="admin")
    expired = keys.issuer.access_token(account_id=1, role="admin", ttl=-60)
    genuine = keys.token("consumer", account_id=5)
    header, _, signature = genuine.split(".")
    claims = jwt.decode(genuine, options={"verify_signature": False})
    claims["role"] = "admin"  # a consumer promoting herself: the signature no longer matches
    tampered = ".".join([header, base64url_encode(json.dumps(claims).encode()).decode(), signature])
    async with running_gateway(migrated, "sqlite", keys, catalog_url=probe_url) as gw, gw.client() as client:
        for token, code in ((forged, "invalid_token"), (expired, "token_expired"), (tampered, "invalid_token"),
                            ("not-a-token", "invalid_token")):
            headers = {"Authorization": f"Bearer {token}"}
            through = await client.get("/api/catalog/whoami", headers=headers)
            assert through.status_code == 401, token
            assert through.json()["error"]["code"] == code
            own = await client.get("/api/auth/me", headers=headers)
            assert own.status_code == 401 and own.json()["error"]["code"] == code
        assert (await client.get("/api/catalog/whoami")).status_code == 401


async def test_method_path_query_body_and_headers_arrive_but_not_service_credentials(migrated, keys, probe_url):
    async with running_gateway(migrated, "sqlite", keys, catalog_url=probe_url) as gw, gw.client("10.1.2.3") as client:
        r = await client.patch("/api/catalog/echo/products/7?q=papa%20imilla&x=1&x=2", content=b'{"precio": "8.50"}',
                               headers={"content-type": "application/json", "X-Service-Key": "guessed",
                                        "X-Service-Name": "orders", "X-Request-ID": "req-123",
                                        "Connection": "keep-alive", "Accept-Language": "es-BO"})
        assert r.status_code == 200, r.text
        seen = r.json()
        assert seen["method"] == "PATCH"
        assert seen["path"] == "/echo/products/7"
        assert seen["query"] == "q=papa%20imilla&x=1&x=2"
        assert seen["body"] == '{"precio": "8.50"}'
        headers = seen["headers"]
        assert "x-service-key" not in headers and "x-service-name" not in headers
        assert headers["x-request-id"] == "req-123" and r.headers["x-request-id"] == "req-123"
        assert headers["accept-language"] == "es-BO"
        assert headers["x-forwarded-for"] == "10.1.2.3"
        assert headers["x-forwarded-prefix"] == "/api/catalog"
        escaped = await client.get("/api/catalog%2Fecho/a%20b")
        assert escaped.status_code == 200 and escaped.json()["path"] == "/echo/a b"
        generated = await client.get("/api/catalog/echo/x")
        assert generated.json()["headers"]["x-request-id"] == generated.headers["x-request-id"]


@pytest.mark.parametrize("path", ["/api/catalog/internal/secret", "/api/catalog/internal", "/api/catalog/metrics",
                                  "/api/catalog//internal/secret", "/api/catalog/echo/../internal/secret",
                                  "/api/catalog/%69nternal/secret", "/api/catalog/INTERNAL/secret",
                                  "/api/orders/internal/reservations"])
async def test_internal_and_metrics_paths_of_services_are_never_forwarded(migrated, keys, probe_url, path):
    async with running_gateway(migrated, "sqlite", keys, catalog_url=probe_url) as gw, gw.client() as client:
        r = await client.get(path, headers={"X-Service-Key": "test-service-secret"})
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "not_found"


async def test_a_stopped_service_is_a_quick_503_in_the_error_shape(migrated, keys):
    async with running_gateway(migrated, "sqlite", keys, catalog_url=dead_url(),
                               proxy_connect_timeout_seconds=1.0) as gw, gw.client() as client:
        r = await asyncio.wait_for(client.post("/api/catalog/products", json={"name": "Papa"}), timeout=10)
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "service_unavailable"
        assert r.json()["error"]["details"] == {"service": "catalog", "reason": "unreachable"}
        assert "catalog" in r.json()["error"]["message"]


async def test_a_service_that_does_not_answer_is_a_503_once_the_timeout_passes(migrated, keys, probe_url):
    async with running_gateway(migrated, "sqlite", keys, catalog_url=probe_url,
                               proxy_timeout_seconds=0.5) as gw, gw.client() as client:
        started = time.monotonic()
        r = await asyncio.wait_for(client.get("/api/catalog/slow"), timeout=10)
        assert r.status_code == 503
        assert r.json()["error"]["details"] == {"service": "catalog", "reason": "timeout"}
        assert time.monotonic() - started >= 0.5  # it waited for the service, as configured




async def test_the_real_catalog_answers_through_the_gateway(backend, migrated, keys):
    from services.catalog.app import create_app as create_catalog

    catalog_url = migrated.url("catalog", backend)
    async with transactional_database(catalog_url) as db:
        catalog = create_catalog(service_settings("catalog", catalog_url), database=db, verifier=keys.verifier)
        async with serving(catalog) as url, running_gateway(migrated, backend, keys, catalog_url=url) as gw, \
                gw.client() as client:
            r = await client.get("/api/catalog/healthz")
            assert r.status_code == 200, r.text
            assert r.json()["service"] == "catalog" and r.json()["database"] == "ok"
            health = (await client.get("/healthz")).json()
            assert health["services"]["catalog"]["status"] == "ok"
            assert health["services"]["catalog"]["database"] == "ok"
            assert health["services"]["orders"]["status"] == "down"
            assert health["status"] == "degraded" and health["database"] == "ok"
            missing = await client.get("/api/catalog/no/such/thing")
            assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
            # the catalog verifies the gateway's token itself: signed in, it judges the request;
            # with a token signed by anyone else, it refuses the caller
            tokens = await register_and_login(client, login="+591 67778899")
            signed_in = await client.post("/api/catalog/producers", json={},
                                          headers={"Authorization": f"Bearer {tokens['access_token']}"})
            assert signed_in.status_code in (403, 422), signed_in.text
            forged = await client.post("/api/catalog/producers", json={},
                                       headers={"Authorization": f"Bearer {tokens['access_token'][:-4]}AAAA"})
            assert forged.status_code == 401 and forged.json()["error"]["code"] == "invalid_token"




async def test_a_body_over_the_limit_is_refused_before_it_reaches_the_service(migrated, keys, probe_url):
    async with running_gateway(migrated, "sqlite", keys, catalog_url=probe_url,
                               proxy_max_body_bytes=1000) as gw, gw.client() as client:
        small = await client.post("/api/catalog/echo/photos", content=b"x" * 1000)
        assert small.status_code == 200 and len(small.json()["body"]) == 1000

        async def chunks():
            for _ in range(3):
                yield b"y" * 600

        big = await client.post("/api/catalog/echo/photos", content=chunks())
        assert big.status_code == 413 and big.json()["error"]["code"] == "payload_too_large"
        whole = await client.post("/api/catalog/echo/photos", content=b"z" * 1001)
        assert whole.status_code == 413


async def test_large_answers_stream_through_whole(migrated, keys, probe_url):
    async with running_gateway(migrated, "sqlite", keys, catalog_url=probe_url) as gw, gw.client() as client:
        payload = "ñ" * 1_500_000  # over the buffering limit: streamed in chunks
        r = await client.put("/api/catalog/echo/big", content=payload.encode())
        assert r.status_code == 200
        assert r.json()["body"] == payload


async def test_redirects_of_a_service_point_back_through_the_gateway(migrated, keys, probe_url):
    async with running_gateway(migrated, "sqlite", keys, catalog_url=probe_url) as gw, gw.client() as client:
        r = await client.get("/api/catalog/moved")
        assert r.status_code == 307
        assert r.headers["location"] == "/api/catalog/whoami"


async def test_a_service_stopped_while_the_gateway_runs_turns_into_503(migrated, keys, tmp_path):
    from tests.gateway.conftest import probe_service

    probe = probe_service(keys, tmp_path)
    url = await probe.__aenter__()
    try:
        async with running_gateway(migrated, "sqlite", keys, catalog_url=url) as gw, gw.client() as client:
            assert (await client.get("/api/catalog/echo/a")).status_code == 200  # a pooled connection now
            await probe.__aexit__(None, None, None)
            probe = None
            for method in ("GET", "POST"):
                r = await asyncio.wait_for(client.request(method, "/api/catalog/echo/a"), timeout=10)
                assert r.status_code == 503
                assert r.json()["error"]["details"] == {"service": "catalog", "reason": "unreachable"}
    finally:
        if probe is not None:
            await probe.__aexit__(None, None, None)


async def test_a_reference_price_entered_through_the_gateway_judges_the_very_next_sale(backend, migrated, keys):
    """The fair-price watch keeps a territory's references a few seconds (every order placed is judged
    by them); a reference entered through the gateway is seen at once, not after they age out."""
    from services.catalog.app import create_app as create_catalog
    from tests.catalog.conftest import seed_place

    catalog_url = migrated.url("catalog", backend)
    async with transactional_database(catalog_url) as db:
        await seed_place(db, code="020101", name="La Paz")
        catalog = create_catalog(service_settings("catalog", catalog_url), database=db, verifier=keys.verifier)
        async with serving(catalog) as url, running_gateway(migrated, backend, keys, catalog_url=url) as gw, \
                gw.client() as client:
            watch = gw.app.state.fair_price_watch
            assert await watch._references("020101") == []  # read (and kept) before the reference exists
            la_paz = keys.headers("municipality", municipality_code="020101")
            refused = await client.post("/api/catalog/reference-prices", headers=la_paz, json={
                "municipality_code": "020101", "unit": "arroba", "product_name": "Papa huaycha", "price": "-1"})
            assert refused.status_code == 422
            entered = await client.post("/api/catalog/reference-prices", headers=la_paz, json={
                "municipality_code": "020101", "unit": "arroba", "product_name": "Papa huaycha", "price": "50",
                "band_min": "45", "band_max": "60"})
            assert entered.status_code == 201, entered.text
            [reference] = await watch._references("020101")
            assert reference.band_min is not None
