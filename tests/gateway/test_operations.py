"""Health, metrics and the merged API documentation of the gateway."""

from tests.conftest import service_settings, transactional_database
from tests.gateway.conftest import running_gateway, serving


async def test_metrics_are_not_open_to_the_world(migrated, keys):
    async with running_gateway(migrated, "sqlite", keys, metrics_token="prometheus-secret") as gw, \
            gw.client() as client:
        anonymous = await client.get("/metrics")
        assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "not_authenticated"
        consumer = await client.get("/metrics", headers=keys.headers("consumer"))
        assert consumer.status_code == 403
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer guessed"})
        assert wrong.status_code == 401
        admin = await client.get("/metrics", headers=keys.headers("admin", account_id=1))
        assert admin.status_code == 200 and "http_requests_total" in admin.text
        scraper = await client.get("/metrics", headers={"Authorization": "Bearer prometheus-secret"})
        assert scraper.status_code == 200 and "http_request_duration_seconds" in scraper.text


async def test_proxied_requests_are_counted_per_service_not_per_path(migrated, keys, probe_url):
    async with running_gateway(migrated, "sqlite", keys, catalog_url=probe_url) as gw, gw.client() as client:
        for n in range(3):
            await client.get(f"/api/catalog/echo/{n}")
        text = (await client.get("/metrics", headers=keys.headers("admin", account_id=1))).text
        assert 'route="/api/catalog",service="gateway",status="200"} 3.0' in text


async def test_health_is_degraded_when_a_service_is_down(migrated, keys, probe_url):
    async with running_gateway(migrated, "sqlite", keys) as gw, gw.client() as client:
        r = await client.get("/healthz")
        assert r.status_code == 200
        body = r.json()
        assert body["service"] == "gateway" and body["database"] == "ok"
        assert body["status"] == "degraded"
        assert set(body["services"]) == {"catalog", "orders", "delivery", "payments"}
        assert all(s["status"] == "down" for s in body["services"].values())
        assert body["rate_limits"] == {"counters": "memory", "status": "ok"}


async def test_health_says_when_the_rate_limit_counters_are_unreachable(migrated, keys):
    async with running_gateway(migrated, "sqlite", keys, redis_url="redis://127.0.0.1:1/0") as gw, \
            gw.client() as client:
        body = (await client.get("/healthz")).json()
        assert body["rate_limits"]["counters"] == "redis" and body["rate_limits"]["status"] == "down"
        assert body["status"] == "degraded"


async def test_docs_merge_every_service_and_survive_one_being_down(backend, migrated, keys):
    from services.catalog.app import create_app as create_catalog

    catalog_url = migrated.url("catalog", backend)
    async with transactional_database(catalog_url) as db:
        catalog = create_catalog(service_settings("catalog", catalog_url), database=db, verifier=keys.verifier)
        async with serving(catalog) as url, running_gateway(migrated, backend, keys, catalog_url=url) as gw, \
                gw.client() as client:
            page = await client.get("/docs")
            assert page.status_code == 200 and "/api/openapi.json" in page.text
            spec = (await client.get("/api/openapi.json")).json()
            paths = spec["paths"]
            assert "/api/auth/login" in paths and "/healthz" in paths
            assert "services" in paths["/healthz"]["get"]["summary"].lower()  # the gateway's, not the kernel's
            assert "/api/catalog/healthz" in paths
            assert not [p for p in paths if "/internal" in p or p.endswith("/metrics")]
            assert set(spec["x-unavailable-services"]) == {"orders", "delivery", "payments"}
            schemas = spec["components"]["schemas"]
            catalog_schemas = [name for name in schemas if name.startswith("catalog.")]
            refs = _refs(spec)
            assert all(ref.split("/")[-1] in schemas for ref in refs), "every $ref points at a component"
            if catalog_schemas:  # once the catalog has its routes
                assert any(ref.split("/")[-1].startswith("catalog.") for ref in refs)


def _refs(node) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_component_names_of_two_services_do_not_clash():
    from gateway.openapi import merge_specs

    def service(field: str) -> dict:
        return {"paths": {"/products": {"get": {"operationId": "list_products", "tags": ["products"], "responses": {
            "200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Product"}}}}}}},
            "/internal/x": {"post": {"responses": {}}}},
            "components": {"schemas": {"Product": {"type": "object", "properties": {field: {"type": "string"}}}}}}

    merged = merge_specs({"openapi": "3.1.0", "info": {"title": "g", "version": "1"}, "paths": {}},
                         {"catalog": service("name"), "orders": service("quantity"), "payments": None})
    assert set(merged["paths"]) == {"/api/catalog/products", "/api/orders/products"}
    assert merged["components"]["schemas"]["catalog.Product"]["properties"] == {"name": {"type": "string"}}
    assert merged["components"]["schemas"]["orders.Product"]["properties"] == {"quantity": {"type": "string"}}
    op = merged["paths"]["/api/orders/products"]["get"]
    assert op["operationId"] == "orders_list_products" and op["tags"] == ["orders: products"]
    assert op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"] == \
        "#/components/schemas/orders.Product"
    assert merged["x-unavailable-services"] == ["payments"]
