"""Searching the catalog (filters, sorts, cursor pages) and product photos."""

import io

from PIL import Image

from tests.catalog.conftest import catalog, seed_organization, seed_producer, seed_product


async def _world(db):
    org = await seed_organization(db)
    ana = await seed_producer(db, organization_id=org, name="Ana Quispe")
    beto = await seed_producer(db, municipality="020105", name="Beto Nina", gender="male")
    ids = {
        "platano": await seed_product(db, producer_id=ana, name="Plátano", category="frutas", unit="docena",
                                      price_centavos=1000),
        "papa": await seed_product(db, producer_id=ana, name="Papa Huaycha", price_centavos=6000),
        "quinua": await seed_product(db, producer_id=beto, name="Quinua Real", category="granos_andinos",
                                     unit="kg", price_centavos=2200),
        "cafe": await seed_product(db, producer_id=beto, name="Café de altura", category="cafe", unit="libra",
                                   price_centavos=4500),
        "platano_macho": await seed_product(db, producer_id=beto, name="Plátano macho", category="frutas",
                                            unit="unidad", price_centavos=150),
    }
    await seed_product(db, producer_id=beto, name="Plátano viejo", category="frutas", active=False)
    return org, ana, beto, ids


async def _ids(client, **params):
    r = await client.get("/products", params=params)
    assert r.status_code == 200, r.text
    return [p["id"] for p in r.json()["items"]]


async def test_search_filters_by_category_place_organization_producer_and_price(backend, migrated, keys):
    async with catalog(migrated, keys, backend) as (client, db):
        org, _ana, beto, ids = await _world(db)
        assert set(await _ids(client, q="platano")) == {ids["platano"], ids["platano_macho"]}
        assert set(await _ids(client, category="frutas")) == {ids["platano"], ids["platano_macho"]}
        assert set(await _ids(client, municipality="020105")) == {ids["quinua"], ids["cafe"], ids["platano_macho"]}
        assert set(await _ids(client, organization=org)) == {ids["platano"], ids["papa"]}
        assert set(await _ids(client, producer=beto, q="CAFÉ")) == {ids["cafe"]}
        assert set(await _ids(client, min_price="10", max_price="45")) == {ids["platano"], ids["quinua"], ids["cafe"]}
        bad = await client.get("/products", params={"min_price": "50", "max_price": "10"})
        assert bad.status_code == 422
        assert (await client.get("/products", params={"category": "golosinas"})).status_code == 422
        assert (await client.get("/products", params={"cursor": "!!!"})).status_code == 422


async def test_search_sorts_by_price_name_and_newest_and_pages_with_cursors(backend, migrated, keys):
    async with catalog(migrated, keys, backend) as (client, db):
        _org, _ana, _beto, ids = await _world(db)
        by_price = [ids[k] for k in ("platano_macho", "platano", "quinua", "cafe", "papa")]
        assert await _ids(client, sort="price") == by_price
        assert await _ids(client, sort="-price") == list(reversed(by_price))
        assert await _ids(client, sort="name") == [ids[k] for k in ("cafe", "papa", "platano", "platano_macho",
                                                                    "quinua")]
        assert await _ids(client, sort="newest") == sorted(ids.values(), reverse=True)
        for sort in ("price", "-price", "name", "newest"):
            seen, cursor = [], None
            while True:
                params = {"sort": sort, "limit": 2} | ({"cursor": cursor} if cursor else {})
                page = (await client.get("/products", params=params)).json()
                seen += [p["id"] for p in page["items"]]
                cursor = page["next_cursor"]
                if not cursor:
                    break
            assert seen == await _ids(client, sort=sort), sort
        first = (await client.get("/products", params={"sort": "name", "limit": 1})).json()["next_cursor"]
        wrong = await client.get("/products", params={"sort": "price", "cursor": first})
        assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "invalid_cursor"


def _image(kind="PNG", size=(900, 600)):
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(buf, format=kind)
    return buf.getvalue()


async def test_a_real_photo_is_stored_with_a_small_thumbnail(backend, migrated, keys):
    async with catalog(migrated, keys, backend) as (client, db):
        producer = await seed_producer(db)
        product = await seed_product(db, producer_id=producer)
        headers = keys.headers("producer", producer_id=producer)
        for kind, mime in (("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")):
            r = await client.post(f"/products/{product}/photo", headers=headers,
                                  files={"file": (f"papa.{kind.lower()}", _image(kind), mime)})
            assert r.status_code == 200, r.text
        body = r.json()
        full = await client.get(body["photo_url"])
        thumb = await client.get(body["thumbnail_url"])
        assert full.status_code == thumb.status_code == 200
        assert full.headers["content-type"] == "image/webp"
        small = Image.open(io.BytesIO(thumb.content))
        assert small.format == "JPEG" and max(small.size) <= 320
        assert len(thumb.content) < len(_image("PNG"))


async def test_fake_oversized_or_foreign_photos_are_refused(backend, migrated, keys):
    async with catalog(migrated, keys, backend) as (client, db):
        producer = await seed_producer(db)
        product = await seed_product(db, producer_id=producer)
        headers = keys.headers("producer", producer_id=producer)
        fake = await client.post(f"/products/{product}/photo", headers=headers,
                                 files={"file": ("papa.jpg", b"\xff\xd8\xff\xe0 not really a jpeg", "image/jpeg")})
        assert fake.status_code == 422 and fake.json()["error"]["code"] == "invalid_photo"
        gif = await client.post(f"/products/{product}/photo", headers=headers,
                                files={"file": ("papa.gif", _image("GIF"), "image/gif")})
        assert gif.status_code == 422 and gif.json()["error"]["code"] == "unsupported_photo_format"
        other = keys.headers("producer", producer_id=producer + 1000)
        assert (await client.post(f"/products/{product}/photo", headers=other,
                                  files={"file": ("p.png", _image(), "image/png")})).status_code == 403
        assert (await client.get(f"/products/{product}")).json()["photo_url"] is None
        assert (await client.get("/photos/../../etc/passwd")).status_code == 404


async def test_a_photo_over_the_size_limit_is_refused(backend, migrated, keys):
    async with catalog(migrated, keys, backend, photo_max_bytes=2000) as (client, db):
        producer = await seed_producer(db)
        product = await seed_product(db, producer_id=producer)
        big = await client.post(f"/products/{product}/photo", headers=keys.headers("producer", producer_id=producer),
                                files={"file": ("papa.png", _image("BMP"), "image/png")})
        assert big.status_code == 413 and big.json()["error"]["code"] == "photo_too_large"
        assert (await client.get(f"/products/{product}")).json()["photo_url"] is None
