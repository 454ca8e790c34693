"""A phone on costly data re-downloads no catalogue page that did not change, and never sees a page
older than the catalogue's own last change: public reads carry a strong ETag, a matching
If-None-Match gets 304 with no body, and a price change or a reservation shows on the next read."""

from services.common.read_cache import ReadCache
from tests.catalog.conftest import SERVICE, catalog, seed_producer, seed_product


async def test_an_unchanged_page_is_not_sent_again_and_a_change_is_seen_at_once(backend, migrated, keys):
    async with catalog(migrated, keys, backend) as (client, db):
        producer = await seed_producer(db)
        papa = await seed_product(db, producer_id=producer, unit="arroba", price_centavos=4550, available="10")
        first = await client.get("/products", params={"limit": 20})
        assert first.status_code == 200
        etag = first.headers["etag"]
        assert etag.startswith('"') and first.headers["cache-control"] == "public, no-cache"
        again = await client.get("/products", params={"limit": 20}, headers={"If-None-Match": etag})
        assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
        # the same query in another order is the same page
        same = await client.get("/products?sort=name&limit=20", headers={"If-None-Match": f'W/{etag}, "x"'})
        assert same.status_code == 304

        changed = await client.patch(f"/products/{papa}", json={"price": "47.00"},
                                     headers=keys.headers("producer", producer_id=producer))
        assert changed.status_code == 200, changed.text
        fresh = await client.get("/products", params={"limit": 20}, headers={"If-None-Match": etag})
        assert fresh.status_code == 200 and fresh.headers["etag"] != etag
        assert [p["price"] for p in fresh.json()["items"]] == ["47.00"]

        one = await client.get(f"/products/{papa}")
        assert one.json()["available"] == "10"
        reserved = await client.post("/internal/reservations", headers=SERVICE, json={
            "order_id": "7", "lines": [{"line_id": "7-1", "product_id": papa, "quantity": "4"}]})
        assert reserved.status_code == 200, reserved.text
        after = await client.get(f"/products/{papa}", headers={"If-None-Match": one.headers["etag"]})
        assert after.status_code == 200 and after.json()["available"] == "6"

        categories = await client.get("/categories")
        assert (await client.get("/categories", headers={"If-None-Match": categories.headers["etag"]})).status_code == 304


async def test_bad_queries_are_still_refused_and_unknown_products_still_404(backend, migrated, keys):
    async with catalog(migrated, keys, backend) as (client, _db):
        assert (await client.get("/products", params={"limit": 0})).status_code == 422
        assert (await client.get("/products", params={"municipality": "La Paz"})).status_code == 422
        missing = await client.get("/products/999999")
        assert missing.status_code == 404 and "etag" not in missing.headers


def test_the_cache_is_bounded_and_keeps_no_answer_read_across_a_write():
    cache = ReadCache(ttl=60, max_entries=3)
    for n in range(10):
        cache.put(("q", n), b"{}", cache.generation)
    assert len(cache.entries) == 3 and cache.get(("q", 9)) is not None and cache.get(("q", 0)) is None
    started = cache.generation
    cache.clear()  # a write committed while the answer was being read
    cache.put(("q", "late"), b"[]", started)
    assert cache.get(("q", "late")) is None
    off = ReadCache(ttl=0)
    off.put("k", b"{}", off.generation)
    assert off.get("k") is None
