"""The demo world loads into the catalog once, whatever how many times it is run."""

from sqlalchemy import func, select

from infra.demo_world import build_world
from services.catalog.demo import load_demo
from services.catalog.models import Certification, Municipality, PriceChange, Producer, Product
from tests.catalog.conftest import catalog


async def _counts(db):
    async with db.session() as s:
        return [(await s.execute(select(func.count()).select_from(m))).scalar_one()
                for m in (Municipality, Producer, Product, PriceChange, Certification)]


async def test_loading_the_demo_twice_changes_nothing(backend, migrated, keys):
    world = build_world()
    async with catalog(migrated, keys, backend) as (client, db):
        await load_demo(db, world)
        first = await _counts(db)
        assert first[:4] == [len(world.municipalities), len(world.producers), len(world.products),
                             len(world.products)]
        await load_demo(db, world)
        assert await _counts(db) == first
        product = world.products[0]
        shown = (await client.get(f"/products/{product.id}")).json()
        assert (shown["name"], shown["producer_id"]) == (product.name, product.producer_id)
        assert (await client.get("/products", params={"certified": "true", "limit": 1})).json()["items"]
        # ids handed out after the demo do not collide with the world's
        producer = world.producers[0].id
        r = await client.post("/products", headers=keys.headers("producer", producer_id=producer), json={
            "name": "Producto nuevo de prueba", "category": "procesados", "unit": "unidad", "price": "5"})
        assert r.status_code == 201, r.text
        assert r.json()["id"] > len(world.products)
