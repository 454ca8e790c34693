"""The public catalog: registering places, organizations and producers, offering products, rules on
bad input and ownership, price history, certifications and reference prices."""

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from services.catalog.models import PriceChange, Product, ReferencePrice
from tests.catalog.conftest import catalog, seed_organization, seed_place, seed_producer, seed_product


def product_body(**kw):
    return {"name": "Plátano", "category": "frutas", "unit": "docena", "price": "10.50", "available": "30",
            "min_order_quantity": "1", "case_size": "10"} | kw


async def count(db, model):
    async with db.session() as s:
        return (await s.execute(select(func.count()).select_from(model))).scalar_one()


async def test_coordinator_registers_a_municipality_organization_and_producer(backend, migrated, keys):
    async with catalog(migrated, keys, backend) as (client, _db):
        coord = keys.headers("coordinator")
        m = await client.post("/municipalities", headers=coord, json={
            "code": "021101", "name": "Coroico", "province": "Nor Yungas", "department": "La Paz",
            "lat": -16.19, "lon": -67.73})
        assert m.status_code == 201, m.text
        assert (await client.post("/municipalities", headers=coord, json=m.json())).status_code == 409
        assert (await client.get("/municipalities/021101")).json()["name"] == "Coroico"
        o = await client.post("/organizations", headers=coord, json={
            "name": "OECA Frutícola Coroico", "legal_form": "oeca", "nit": "123456789",
            "legal_papers": ["personería jurídica"], "maturity": "embrionaria",
            "value_chain_stage": "materia_prima", "municipality_code": "021101", "member_count": 30,
            "women_count": 14, "whatsapp": "+591 71234567"})
        assert o.status_code == 201, o.text
        assert o.json()["legal_papers"] == ["personería jurídica"]
        p = await client.post("/producers", headers=coord, json={
            "name": "Sabina Quispe", "gender": "female", "phone": "+591 72000000", "community": "Comunidad Tuni",
            "municipality_code": "021101", "organization_id": o.json()["id"]})
        assert p.status_code == 201, p.text
        # reading is public, but a producer's phone is only for those who manage her
        public = await client.get(f"/producers/{p.json()['id']}")
        assert public.status_code == 200 and public.json()["phone"] is None
        # naming her organization asks it; she is a member once the organization confirms
        assert p.json()["organization_id"] is None
        asked = await client.get(f"/organizations/{o.json()['id']}/memberships", headers=coord)
        [request] = asked.json()
        assert request["status"] == "pending"
        confirmed = await client.post(f"/memberships/{request['id']}/confirm",
                                      headers=keys.headers("organization", organization_id=o.json()["id"]))
        assert confirmed.status_code == 200, confirmed.text
        listed = await client.get("/producers", params={"organization": o.json()["id"]})
        assert [x["name"] for x in listed.json()["items"]] == ["Sabina Quispe"]
        # bad input is refused whole
        bad = await client.post("/organizations", headers=coord, json={
            **o.json(), "legal_form": "sindicato"})
        assert bad.status_code == 422
        more_women = await client.post("/organizations", headers=coord, json={
            "name": "X", "legal_form": "otra", "maturity": "embrionaria", "value_chain_stage": "materia_prima",
            "municipality_code": "021101", "member_count": 3, "women_count": 5})
        assert more_women.status_code == 422
        unknown_place = await client.post("/producers", headers=coord, json={
            "name": "Ana", "gender": "female", "municipality_code": "999999"})
        assert unknown_place.status_code == 422
        assert unknown_place.json()["error"]["code"] == "unknown_municipality"


async def test_only_coordinators_register_places_organizations_and_producers(backend, migrated, keys):
    async with catalog(migrated, keys, backend) as (client, _db):
        body = {"code": "020104", "name": "Achocalla", "province": "Murillo", "department": "La Paz"}
        assert (await client.post("/municipalities", json=body)).status_code == 401
        assert (await client.post("/municipalities", json=body,
                                  headers=keys.headers("producer", producer_id=1))).status_code == 403
        assert (await client.post("/municipalities", json=body,
                                  headers=keys.headers("admin"))).status_code == 201


async def test_producer_offers_a_product_and_platano_finds_platano(backend, migrated, keys):
    async with catalog(migrated, keys, backend) as (client, db):
        producer = await seed_producer(db)
        r = await client.post("/products", json=product_body(),
                              headers=keys.headers("producer", producer_id=producer))
        assert r.status_code == 201, r.text
        product = r.json()
        assert product["producer_id"] == producer
        assert (product["name"], product["unit"], product["price"], product["available"]) == \
            ("Plátano", "docena", "10.50", "30")
        assert (product["base_unit"], product["base_per_unit"]) == ("unidad", "12")
        assert product["category_label"] == "Frutas" and product["certified"] is False
        for q in ("platano", "PLÁTANO", "Platano", "látan"):
            found = await client.get("/products", params={"q": q})
            assert [p["id"] for p in found.json()["items"]] == [product["id"]], q
        assert (await client.get("/products", params={"q": "banano"})).json()["items"] == []
        assert (await client.get("/products", params={"q": "%"})).json()["items"] == []


async def test_bad_prices_stock_and_units_are_refused_and_nothing_is_written(backend, migrated, keys):
    async with catalog(migrated, keys, backend) as (client, db):
        producer = await seed_producer(db)
        headers = keys.headers("producer", producer_id=producer)
        for bad in ({"price": "-5"}, {"price": "0"}, {"price": "900000"}, {"price": "1.234"}, {"price": "abc"},
                    {"available": "-1"}, {"available": "50000000"}, {"min_order_quantity": "0"},
                    {"case_size": "0"}, {"category": "golosinas"}, {"name": ""}):
            r = await client.post("/products", json=product_body(**bad), headers=headers)
            assert r.status_code == 422, (bad, r.text)
        unit = await client.post("/products", json=product_body(unit="barril"), headers=headers)
        assert unit.status_code == 422
        message = unit.json()["error"]["message"]
        assert "barril" in message and all(u in message for u in ("kg", "libra", "arroba", "quintal", "docena"))
        assert await count(db, Product) == 0 and await count(db, PriceChange) == 0

        ok = (await client.post("/products", json=product_body(), headers=headers)).json()
        patch = await client.patch(f"/products/{ok['id']}", json={"price": "-1"}, headers=headers)
        assert patch.status_code == 422
        patch = await client.patch(f"/products/{ok['id']}", json={"price": "12.00", "available": "-3"},
                                   headers=headers)
        assert patch.status_code == 422
        assert (await client.get(f"/products/{ok['id']}")).json()["price"] == "10.50"
        assert await count(db, PriceChange) == 1


async def test_a_producer_cannot_offer_the_same_product_twice_in_one_unit(backend, migrated, keys):
    async with catalog(migrated, keys, backend) as (client, db):
        producer = await seed_producer(db)
        headers = keys.headers("producer", producer_id=producer)
        assert (await client.post("/products", json=product_body(), headers=headers)).status_code == 201
        twin = await client.post("/products", json=product_body(name="plátano ", price="11"), headers=headers)
        assert twin.status_code == 409 and twin.json()["error"]["code"] == "duplicate_product"
        assert (await client.post("/products", json=product_body(unit="unidad"), headers=headers)).status_code == 201
        other = await seed_producer(db, name="Rosa Apaza")
        assert (await client.post("/products", json=product_body(),
                                  headers=keys.headers("producer", producer_id=other))).status_code == 201
        assert await count(db, Product) == 3 and await count(db, PriceChange) == 3


async def test_producers_change_only_their_products_and_organizations_their_members(backend, migrated, keys):
    async with catalog(migrated, keys, backend) as (client, db):
        org = await seed_organization(db)
        member = await seed_producer(db, organization_id=org)
        outsider = await seed_producer(db, name="Pedro Condori", gender="male")
        mine = await seed_product(db, producer_id=member)
        theirs = await seed_product(db, producer_id=outsider, name="Oca")
        as_member = keys.headers("producer", producer_id=member)
        as_outsider = keys.headers("producer", producer_id=outsider)
        as_org = keys.headers("organization", organization_id=org)

        assert (await client.patch(f"/products/{mine}", json={"price": "50"}, headers=as_member)).status_code == 200
        denied = await client.patch(f"/products/{mine}", json={"price": "1"}, headers=as_outsider)
        assert denied.status_code == 403 and denied.json()["error"]["code"] == "not_your_product"
        assert (await client.patch(f"/products/{mine}", json={"available": "70"}, headers=as_org)).status_code == 200
        assert (await client.patch(f"/products/{theirs}", json={"available": "1"}, headers=as_org)).status_code == 403
        assert (await client.post("/products", json=product_body(producer_id=outsider),
                                  headers=as_member)).status_code == 403
        assert (await client.post("/products", json=product_body(producer_id=member),
                                  headers=as_org)).status_code == 201
        assert (await client.post("/products", json=product_body(),
                                  headers=keys.headers("consumer"))).status_code == 422
        assert (await client.patch(f"/products/{mine}", json={"price": "1"})).status_code == 401
        assert (await client.delete(f"/products/{theirs}", headers=as_member)).status_code == 403
        assert (await client.delete(f"/products/{mine}", headers=as_member)).status_code == 204
        gone = (await client.get(f"/products/{mine}")).json()
        assert gone["active"] is False and gone["price"] == "50.00" and gone["available"] == "70"
        assert (await client.get("/products", params={"q": "papa"})).json()["items"] == []


async def test_every_price_change_is_in_the_public_history(backend, migrated, keys):
    async with catalog(migrated, keys, backend) as (client, db):
        producer = await seed_producer(db)
        headers = keys.headers("producer", producer_id=producer)
        product = (await client.post("/products", json=product_body(), headers=headers)).json()
        await client.patch(f"/products/{product['id']}", json={"price": "12.00"}, headers=headers)
        await client.patch(f"/products/{product['id']}", json={"available": "5"}, headers=headers)
        await client.patch(f"/products/{product['id']}", json={"price": "9.90"}, headers=headers)
        history = await client.get(f"/products/{product['id']}/prices")
        assert [h["price"] for h in history.json()["items"]] == ["9.90", "12.00", "10.50"]
        first = await client.get(f"/products/{product['id']}/prices", params={"limit": 2})
        rest = await client.get(f"/products/{product['id']}/prices",
                                params={"limit": 2, "cursor": first.json()["next_cursor"]})
        assert [h["price"] for h in rest.json()["items"]] == ["10.50"] and rest.json()["next_cursor"] is None
        assert (await client.get("/products/999999/prices")).status_code == 404


async def test_a_product_shows_certified_only_while_a_valid_certification_covers_it(backend, migrated, keys):
    async with catalog(migrated, keys, backend) as (client, db):
        org = await seed_organization(db)
        member = await seed_producer(db, organization_id=org)
        loner = await seed_producer(db, name="Félix Choque", gender="male")
        lechuga = await seed_product(db, producer_id=member, name="Lechuga", category="hortalizas", unit="unidad")
        miel = await seed_product(db, producer_id=member, name="Miel", category="miel", unit="litro")
        oca = await seed_product(db, producer_id=loner, name="Oca")
        coord = keys.headers("coordinator")

        async def certified(pid):
            return (await client.get(f"/products/{pid}")).json()["certified"]

        future = (date.today() + timedelta(days=200)).isoformat()
        past = (date.today() - timedelta(days=1)).isoformat()
        # an organization's SPG certification for vegetables covers its members' vegetables only
        c = await client.post(f"/organizations/{org}/certifications", headers=coord, json={
            "kind": "ecologico_sgp", "status": "certificado", "issuer": "Comité Ecológico Municipal de La Paz",
            "valid_until": future, "categories": ["hortalizas"]})
        assert c.status_code == 201, c.text
        assert await certified(lechuga) and not await certified(miel) and not await certified(oca)
        # an expired one certifies nothing; one in process neither
        await client.post(f"/producers/{loner}/certifications", headers=coord, json={
            "kind": "organico", "status": "certificado", "issuer": "Certificadora", "valid_until": past})
        await client.post(f"/producers/{loner}/certifications", headers=coord, json={
            "kind": "comercio_justo", "status": "en_proceso", "issuer": "FLO"})
        assert not await certified(oca)
        only_certified = await client.get("/products", params={"certified": "true"})
        assert [p["id"] for p in only_certified.json()["items"]] == [lechuga]
        not_certified = await client.get("/products", params={"certified": "false"})
        assert sorted(p["id"] for p in not_certified.json()["items"]) == sorted([miel, oca])
        # suspension takes effect at once, and the history keeps both states
        s = await client.patch(f"/certifications/{c.json()['id']}", headers=coord,
                               json={"status": "suspendido", "note": "inspección"})
        assert s.status_code == 200
        assert [h["status"] for h in s.json()["history"]] == ["certificado", "suspendido"]
        assert not await certified(lechuga)
        history = await client.get(f"/organizations/{org}/certifications")
        assert history.json()[0]["valid_today"] is False and len(history.json()[0]["history"]) == 2
        # only coordinators record certifications; a granted one needs a date
        assert (await client.post(f"/producers/{loner}/certifications", json={
            "kind": "organico", "status": "certificado", "issuer": "X", "valid_until": future},
            headers=keys.headers("producer", producer_id=loner))).status_code == 403
        assert (await client.post(f"/producers/{loner}/certifications", headers=coord, json={
            "kind": "organico", "status": "certificado", "issuer": "X"})).status_code == 422


async def test_municipalities_enter_only_their_own_reference_prices(backend, migrated, keys):
    async with catalog(migrated, keys, backend) as (client, db):
        await seed_place(db, code="020101")
        await seed_place(db, code="020105", name="El Alto")
        la_paz = keys.headers("municipality", municipality_code="020101")
        r = await client.post("/reference-prices", headers=la_paz, json={
            "municipality_code": "020101", "category": "tuberculos", "unit": "arroba", "price": "48"})
        assert r.status_code == 201, r.text
        by_name = await client.post("/reference-prices", headers=la_paz, json={
            "municipality_code": "020101", "product_name": "Papa Huaycha", "unit": "arroba", "price": "50"})
        assert by_name.status_code == 201
        other = await client.post("/reference-prices", headers=la_paz, json={
            "municipality_code": "020105", "category": "tuberculos", "unit": "arroba", "price": "40"})
        assert other.status_code == 403
        el_alto = keys.headers("municipality", municipality_code="020105")
        assert (await client.patch(f"/reference-prices/{r.json()['id']}", headers=el_alto,
                                   json={"price": "1"})).status_code == 403
        assert (await client.delete(f"/reference-prices/{r.json()['id']}", headers=el_alto)).status_code == 403
        neither = await client.post("/reference-prices", headers=la_paz, json={
            "municipality_code": "020101", "unit": "arroba", "price": "40"})
        assert neither.status_code == 422
        listed = await client.get("/reference-prices", params={"municipality": "020101"})
        assert [x["price"] for x in listed.json()["items"]] == ["48.00", "50.00"]
        assert await count(db, ReferencePrice) == 2


async def test_a_reference_price_is_never_changed_in_place(backend, migrated, keys):
    async with catalog(migrated, keys, backend) as (client, db):
        await seed_place(db, code="020101")
        la_paz = keys.headers("municipality", municipality_code="020101")
        r = await client.post("/reference-prices", headers=la_paz, json={
            "municipality_code": "020101", "category": "tuberculos", "unit": "arroba", "price": "48"})
        changed = await client.patch(f"/reference-prices/{r.json()['id']}", headers=la_paz, json={"price": "47.50"})
        assert changed.status_code == 422
        assert changed.json()["error"]["code"] == "reference_price_is_history"
        assert changed.json()["error"]["details"]["use"] == "POST /reference-prices"
        [kept] = (await client.get("/reference-prices", params={"history": "true"})).json()["items"]
        assert (kept["price"], kept["valid_to"]) == ("48.00", None)


async def test_a_new_reference_price_closes_the_old_one_and_both_are_kept(backend, migrated, keys, monkeypatch):
    monkeypatch.setenv("MC_TODAY", "2026-05-20")
    async with catalog(migrated, keys, backend) as (client, db):
        await seed_place(db, code="020101")
        la_paz = keys.headers("municipality", municipality_code="020101")
        papa = {"municipality_code": "020101", "product_name": "Papa huaycha", "unit": "arroba"}
        old = await client.post("/reference-prices", headers=la_paz,
                                json=papa | {"price": "50", "valid_from": "2026-01-01"})
        category = await client.post("/reference-prices", headers=la_paz, json={
            "municipality_code": "020101", "category": "tuberculos", "unit": "arroba", "price": "45",
            "valid_from": "2026-01-01"})
        new = await client.post("/reference-prices", headers=la_paz,  # the same product, however it is written
                                json=papa | {"product_name": "PAPA  Huaycha", "price": "60", "valid_from": "2026-04-01"})
        assert new.status_code == 201, new.text

        history = (await client.get("/reference-prices", params={"history": "true"})).json()["items"]
        assert [(x["id"], x["price"], x["valid_from"], x["valid_to"]) for x in history] == [
            (old.json()["id"], "50.00", "2026-01-01", "2026-04-01"),
            (category.json()["id"], "45.00", "2026-01-01", None),  # another kind: untouched
            (new.json()["id"], "60.00", "2026-04-01", None)]

        async def prices_on(day: str | None) -> list[str]:
            params = {"municipality": "020101"} | ({"on": day} if day else {})
            return [x["price"] for x in (await client.get("/reference-prices", params=params)).json()["items"]]
        assert await prices_on("2025-12-31") == []
        assert await prices_on("2026-03-31") == ["50.00", "45.00"]
        assert await prices_on("2026-04-01") == ["45.00", "60.00"]
        assert await prices_on(None) == ["45.00", "60.00"]  # today
        both = await client.get("/reference-prices", params={"history": "true", "on": "2026-04-01"})
        assert both.status_code == 422

        earlier = await client.post("/reference-prices", headers=la_paz,
                                    json=papa | {"price": "55", "valid_from": "2026-02-01"})
        assert earlier.status_code == 409
        assert earlier.json()["error"]["details"]["latest_valid_from"] == "2026-04-01"
        assert await count(db, ReferencePrice) == 3


async def test_withdrawing_a_reference_price_closes_it_today_and_keeps_it(backend, migrated, keys, monkeypatch):
    monkeypatch.setenv("MC_TODAY", "2026-05-20")
    async with catalog(migrated, keys, backend) as (client, db):
        await seed_place(db, code="020101")
        la_paz = keys.headers("municipality", municipality_code="020101")
        papa = {"municipality_code": "020101", "product_name": "Papa huaycha", "unit": "arroba"}
        old = (await client.post("/reference-prices", headers=la_paz,
                                 json=papa | {"price": "50", "valid_from": "2026-01-01"})).json()
        new = (await client.post("/reference-prices", headers=la_paz, json=papa | {"price": "60"})).json()
        assert new["valid_from"] == "2026-05-20"  # today in Bolivia by default
        superseded = await client.delete(f"/reference-prices/{old['id']}", headers=la_paz)
        assert superseded.status_code == 409 and superseded.json()["error"]["code"] == "reference_price_superseded"
        assert (await client.delete(f"/reference-prices/{new['id']}", headers=la_paz)).status_code == 204
        assert (await client.delete(f"/reference-prices/{new['id']}", headers=la_paz)).status_code == 204
        history = (await client.get("/reference-prices", params={"history": "true"})).json()["items"]
        assert [(x["price"], x["valid_from"], x["valid_to"]) for x in history] == [
            ("50.00", "2026-01-01", "2026-05-20"), ("60.00", "2026-05-20", "2026-05-20")]
        assert (await client.get("/reference-prices")).json()["items"] == []


@pytest.mark.parametrize(("band", "problem"), [
    ({"band_min": "50.01"}, "price_outside_band"),
    ({"band_max": "49.99"}, "price_outside_band"),
    ({"band_min": "55", "band_max": "45"}, "price_outside_band"),
    ({"band_min": "0"}, "validation_error"),
    ({"band_max": "abc"}, "validation_error"),
])
async def test_a_fair_band_must_hold_the_reference_price(backend, migrated, keys, band, problem):
    async with catalog(migrated, keys, backend) as (client, db):
        await seed_place(db, code="020101")
        la_paz = keys.headers("municipality", municipality_code="020101")
        papa = {"municipality_code": "020101", "product_name": "Papa huaycha", "unit": "arroba", "price": "50"}
        refused = await client.post("/reference-prices", headers=la_paz, json=papa | band)
        assert refused.status_code == 422 and refused.json()["error"]["code"] == problem
        assert await count(db, ReferencePrice) == 0


async def test_a_fair_band_is_kept_as_money_beside_the_price(backend, migrated, keys):
    async with catalog(migrated, keys, backend) as (client, db):
        await seed_place(db, code="020101")
        la_paz = keys.headers("municipality", municipality_code="020101")
        r = await client.post("/reference-prices", headers=la_paz, json={
            "municipality_code": "020101", "product_name": "Papa huaycha", "unit": "arroba", "price": "50",
            "band_min": "42.5", "band_max": "50"})
        assert r.status_code == 201, r.text
        assert (r.json()["band_min"], r.json()["price"], r.json()["band_max"]) == ("42.50", "50.00", "50.00")
        [listed] = (await client.get("/reference-prices")).json()["items"]
        assert (listed["band_min"], listed["band_max"]) == ("42.50", "50.00")
        alone = await client.post("/reference-prices", headers=la_paz, json={
            "municipality_code": "020101", "category": "hortalizas", "unit": "kg", "price": "7"})
        assert (alone.json()["band_min"], alone.json()["band_max"]) == (None, None)


async def test_supply_figures_count_without_naming_anyone(backend, migrated, keys):
    async with catalog(migrated, keys, backend) as (client, db):
        org = await seed_organization(db, member_count=40, women_count=25)
        juana = await seed_producer(db, organization_id=org)
        pedro = await seed_producer(db, name="Pedro Condori", gender="male")
        await seed_producer(db, name="Lidia Ticona", municipality="020105")
        await seed_product(db, producer_id=juana, price_centavos=5000, available="10")
        await seed_product(db, producer_id=pedro, price_centavos=4000, available="5")
        await seed_product(db, producer_id=pedro, name="Quinua", category="granos_andinos", unit="kg",
                           price_centavos=2200, available="100")
        await client.post("/reference-prices", headers=keys.headers("municipality", municipality_code="020101"),
                          json={"municipality_code": "020101", "category": "tuberculos", "unit": "arroba",
                                "price": "40"})
        staff = keys.headers("coordinator")
        r = await client.get("/stats/supply", params={"municipality": "020101"}, headers=staff)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["producers"]["by_gender"] == {"female": 1, "male": 1, "other": 0}
        assert body["organizations"]["by_legal_form"]["cooperativa"] == 1
        assert body["organizations"]["women_members"] == 25
        papa = next(c for c in body["offer"]["by_category"] if c["category"] == "tuberculos")
        assert (papa["available"], papa["value"], papa["label"]) == ("15", "700.00", "Tubérculos")
        [price] = body["prices"]
        assert (price["reference_price"], price["current_avg"], price["offers"]) == ("40.00", "45.00", 2)
        assert price["avg_vs_reference_percent"] == 12.5
        text = r.text
        assert "Juana" not in text and "Pedro" not in text and "+591" not in text
        country = (await client.get("/stats/supply", headers=staff)).json()
        assert country["producers"]["total"] == 3
        dept = (await client.get("/stats/supply", params={"department": "La Paz"}, headers=staff)).json()
        assert dept["producers"]["total"] == 3
        assert (await client.get("/stats/supply", params={"municipality": "030101"},
                                 headers=staff)).status_code == 404
        assert (await client.get("/stats/supply")).status_code == 401
        # a municipality sees no offer or price of fewer than 3 producers: here, two producers' papas
        town = (await client.get("/stats/supply", params={"municipality": "020101"},
                                 headers=keys.headers("municipality", municipality_code="020101"))).json()
        assert town["offer"] == {"by_category": [], "by_product": []}
        [price] = town["prices"]
        assert price["reference_price"] == "40.00" and price["current_avg"] is None and price["suppressed"]


async def test_profiles_are_changed_by_their_owner_organization_or_coordinator(backend, migrated, keys):
    async with catalog(migrated, keys, backend) as (client, db):
        org = await seed_organization(db)
        other_org = await seed_organization(db, name="Asociación Otra")
        juana = await seed_producer(db, organization_id=org)
        assert (await client.patch(f"/producers/{juana}", json={"community": "Comunidad Tuni"},
                                   headers=keys.headers("producer", producer_id=juana))).status_code == 200
        assert (await client.patch(f"/producers/{juana}", json={"community": "X"},
                                   headers=keys.headers("producer", producer_id=juana + 1))).status_code == 403
        assert (await client.patch(f"/producers/{juana}", json={"community": "Y"},
                                   headers=keys.headers("organization", organization_id=other_org))).status_code == 403
        mine = await client.get(f"/producers/{juana}", headers=keys.headers("organization", organization_id=org))
        assert mine.json()["phone"] == "+59171234567" and mine.json()["community"] == "Comunidad Tuni"
        assert (await client.patch(f"/organizations/{org}", json={"member_count": 25, "women_count": 15},
                                   headers=keys.headers("organization", organization_id=org))).status_code == 200
        assert (await client.patch(f"/organizations/{org}", json={"maturity": "consolidada"},
                                   headers=keys.headers("organization", organization_id=other_org))).status_code == 403
        too_many = await client.patch(f"/organizations/{org}", json={"women_count": 99},
                                      headers=keys.headers("coordinator"))
        assert too_many.status_code == 422
        assert (await client.get(f"/organizations/{org}")).json()["women_count"] == 15


async def test_the_unit_cannot_change_while_orders_hold_stock(backend, migrated, keys):
    async with catalog(migrated, keys, backend) as (client, db):
        producer = await seed_producer(db)
        headers = keys.headers("producer", producer_id=producer)
        papa = await seed_product(db, producer_id=producer, available="10")
        r = await client.post("/internal/reservations", headers={"X-Service-Key": "test-service-secret"},
                              json={"order_id": "1", "lines": [{"line_id": "1-1", "product_id": papa, "quantity": "2"}]})
        assert r.status_code == 200
        locked = await client.patch(f"/products/{papa}", json={"unit": "kg"}, headers=headers)
        assert locked.status_code == 409 and locked.json()["error"]["code"] == "unit_locked"
        # a stock edit sets what is available now; what orders hold stays held
        edited = await client.patch(f"/products/{papa}", json={"available": "20"}, headers=headers)
        assert (edited.json()["available"], edited.json()["reserved"]) == ("20", "2")


async def test_a_required_field_sent_as_null_is_refused_by_name_and_a_clearable_one_is_cleared(
        backend, migrated, keys):
    async with catalog(migrated, keys, backend) as (client, db):
        org = await seed_organization(db, nit="1020304050")
        coordinator = keys.headers("coordinator")
        refused = await client.patch(f"/organizations/{org}", headers=coordinator, json={
            "maturity": "embrionaria", "legal_papers": None, "nit": "3397010140105"})
        assert refused.status_code == 422
        assert "legal_papers cannot be null" in str(refused.json()["error"])
        kept = (await client.get(f"/organizations/{org}")).json()
        assert (kept["maturity"], kept["legal_papers"], kept["nit"]) == (
            "consolidada", ["personeria_juridica"], "1020304050")
        cleared = await client.patch(f"/organizations/{org}", headers=coordinator,
                                     json={"maturity": "embrionaria", "nit": None})
        assert cleared.status_code == 200
        assert (cleared.json()["maturity"], cleared.json()["nit"]) == ("embrionaria", None)


async def test_text_holding_a_nul_character_is_refused_before_it_reaches_the_database(backend, migrated, keys):
    async with catalog(migrated, keys, backend) as (client, db):
        org = await seed_organization(db)
        coordinator = keys.headers("coordinator")
        body = {"kind": "comercio_justo", "issuer": "Comit\u00e9\u0000X", "status": "suspendido"}
        refused = await client.post(f"/organizations/{org}/certifications", headers=coordinator, json=body)
        assert refused.status_code == 422 and "NUL" in refused.json()["error"]["message"]
        assert (await client.get("/products", params={"q": "papa\x00"})).status_code == 422
        assert (await client.get(f"/organizations/{org}/certifications")).json() == []
        literal = await client.post(f"/organizations/{org}/certifications", headers=coordinator,
                                    json={**body, "issuer": "Comité \\u0000 literal"})
        assert literal.status_code == 201 and literal.json()["issuer"] == "Comité \\u0000 literal"
