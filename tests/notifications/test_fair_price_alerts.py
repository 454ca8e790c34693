"""Fair-price alerts: a sale below the band's minimum (from `order.placed`) and an offer above its
maximum (the periodic check) are kept once, listed for the municipality of the producer and for
nobody else's, and told to the municipality and, for a low price, to the producer's organization."""

from sqlalchemy import select

from gateway.fair_prices.models import PriceAlert
from gateway.models import Account
from tests.catalog.conftest import seed_organization, seed_place, seed_producer, seed_product
from tests.notifications.conftest import notifying_gateway


def placed(order_id: int, point_id: int, lines: list[dict]) -> dict:
    return {"order_id": order_id, "cycle_id": 3, "consumer_account_id": 999, "delivery_point_id": point_id,
            "lines": lines, "fees_total": "0.00", "total": "1.00", "placed_at": "2026-11-25T14:00:00+00:00",
            "pickup_code": "K7P2Q9", "delivery_date": "2026-11-28"}


def line(line_id: str, product_id: int, unit_price: str) -> dict:
    return {"line_id": line_id, "product_id": product_id, "producer_id": 1, "quantity": "2", "unit": "arroba",
            "unit_price": unit_price, "line_total": "0"}


async def _account(db, **fields) -> Account:
    async with db.session() as session:
        account = Account(password_hash="-", name=fields.pop("name", "Cuenta"), **fields)
        session.add(account)
        await session.flush()
        return account


async def _inbox(gw, account: Account) -> list[dict]:
    headers = gw.keys.headers(account.role, account_id=account.id, municipality_code=account.municipality_code,
                              organization_id=account.organization_id)
    r = await gw.client.get("/api/notifications", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def test_prices_outside_the_band_raise_alerts_for_the_territory_and_the_organization(backend, migrated, keys):
    async with notifying_gateway(migrated, backend, keys) as gw:
        await seed_place(gw.catalog_db, code="020105", name="El Alto")
        org = await seed_organization(gw.catalog_db)
        producer = await seed_producer(gw.catalog_db, organization_id=org)
        papa = await seed_product(gw.catalog_db, producer_id=producer, price_centavos=4800)
        await seed_product(gw.catalog_db, producer_id=producer, name="Haba verde", category="hortalizas",
                           price_centavos=7000)
        la_paz = keys.headers("municipality", municipality_code="020101")
        for body in ({"product_name": "Papa huaycha", "price": "50", "band_min": "45", "band_max": "60"},
                     {"product_name": "Haba verde", "price": "55", "band_min": "50", "band_max": "65"}):
            r = await gw.catalog.post("/reference-prices", headers=la_paz,
                                      json={"municipality_code": "020101", "unit": "arroba", **body})
            assert r.status_code == 201, r.text
        mayor = await _account(gw.db, role="municipality", municipality_code="020101", email="lapaz@example.bo")
        el_alto = await _account(gw.db, role="municipality", municipality_code="020105", email="alto@example.bo")
        coop = await _account(gw.db, role="organization", organization_id=org, email="coop@example.bo")

        # 40 is below the minimum of 45; 48 is inside the band
        point = await gw.point()  # in La Paz (020101), where the sale happens
        event = placed(41, point["id"], [line("41-1", papa, "40.00"), line("41-2", papa, "48.00")])
        envelope = await gw.deliver("order.placed", event)
        await gw.deliver("order.placed", event, event_id=envelope.id)  # a repeat
        await gw.deliver("order.placed", event)  # the same lines again under another id: nothing new
        assert await gw.app.state.fair_price_watch.check_offers(gw.db) == 1  # Haba at 70 > 65
        assert await gw.app.state.fair_price_watch.check_offers(gw.db) == 0

        r = await gw.client.get("/api/price-alerts", headers=la_paz)
        assert r.status_code == 200, r.text
        alerts = sorted((a["kind"], a["product"], a["price"], a["band_min"], a["band_max"], a["order_id"])
                        for a in r.json())
        assert alerts == [("above_max", "Haba verde", "70.00", "50.00", "65.00", None),
                          ("below_min", "Papa Huaycha", "40.00", "45.00", "60.00", 41)]
        alto = keys.headers("municipality", municipality_code="020105")
        assert (await gw.client.get("/api/price-alerts", headers=alto)).json() == []
        other = await gw.client.get("/api/price-alerts", headers=alto, params={"municipality": "020101"})
        assert other.status_code == 403 and other.json()["error"]["code"] == "outside_territory"
        consumer = await gw.client.get("/api/price-alerts", headers=keys.headers("consumer"))
        assert consumer.status_code == 403

        told = sorted((n["kind"], n["text"]) for n in await _inbox(gw, mayor))
        assert told == [
            ("price_above_band", "Haba verde se ofrece hasta Bs 70,00 por arroba, sobre el máximo justo de "
                                 "Bs 65,00 que fijó el municipio."),
            ("price_below_band", "Se vendió Papa Huaycha a Bs 40,00 por arroba en el pedido #41, bajo el mínimo "
                                 "justo de Bs 45,00 que fijó el municipio.")]
        [(kind, text)] = [(n["kind"], n["text"]) for n in await _inbox(gw, coop)]
        assert kind == "price_below_band" and text.startswith("Un socio vendió Papa Huaycha a Bs 40,00")
        assert await _inbox(gw, el_alto) == []
        async with gw.db.session() as session:
            assert len((await session.execute(select(PriceAlert))).all()) == 2


async def test_an_order_line_that_cannot_be_read_is_dropped_not_retried_forever(backend, migrated, keys):
    async with notifying_gateway(migrated, backend, keys) as gw:
        point = await gw.point()
        for lines in ([{"line_id": "9-1", "product_id": "x", "unit_price": "abc"}], "not a list",
                      [{"line_id": "9-2", "product_id": 424242, "unit_price": "1.00", "unit": "kg"}]):
            await gw.deliver("order.placed", placed(9, point["id"], lines))  # answered 200, nothing kept
        async with gw.db.session() as session:
            assert (await session.execute(select(PriceAlert))).all() == []
