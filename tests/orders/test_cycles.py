"""Cycles: coordinators own them, points are checked with delivery, statuses move one way."""

from datetime import timedelta

from services.common.tables import utcnow
from tests.orders.conftest import platform


def _body(points, **kw):
    now = utcnow()
    return {"name": "Ciclo de prueba", "opens_at": now.isoformat(), "closes_at": (now + timedelta(days=2)).isoformat(),
            "delivery_date": (now + timedelta(days=3)).date().isoformat(), "delivery_point_ids": points, **kw}


async def test_cycle_lifecycle_and_ownership(migrated, keys, backend):
    async with platform(migrated, keys, backend) as p:
        point = await p.point()
        assert (await p.orders.post("/cycles", json=_body([point]), headers=p.consumer(1))).status_code == 403
        unknown = await p.orders.post("/cycles", json=_body([point, 99999]), headers=p.coordinator())
        assert unknown.status_code == 422 and unknown.json()["error"]["details"]["point_ids"] == [99999]
        bad_dates = _body([point])
        bad_dates["closes_at"] = bad_dates["opens_at"]
        assert (await p.orders.post("/cycles", json=bad_dates, headers=p.coordinator())).status_code == 422
        cycle = (await p.orders.post("/cycles", json=_body([point], fee_rules=[
            {"kind": "admin", "basis": "percent", "value": "4.5"}]), headers=p.coordinator())).json()
        assert cycle["status"] == "draft" and cycle["fee_rules"][0]["value"] == "4.5"
        papa = await p.product()
        draft = await p.order(consumer=1, cycle=cycle["id"], point=point, lines=[{"product_id": papa, "quantity": "1"}])
        assert draft.status_code == 409 and draft.json()["error"]["code"] == "cycle_not_open"
        other = await p.orders.patch(f"/cycles/{cycle['id']}", json={"name": "Mío"}, headers=p.coordinator(901))
        assert other.status_code == 403
        r = await p.orders.patch(f"/cycles/{cycle['id']}", json={"name": "Ciclo de Todos Santos", "status": "open",
                                                                 "point_capacity": {str(point): 3}},
                                 headers=p.coordinator())
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "open" and r.json()["point_capacity"] == {str(point): 3}
        skip = await p.orders.patch(f"/cycles/{cycle['id']}", json={"status": "settled"}, headers=p.coordinator())
        assert skip.status_code == 409 and skip.json()["error"]["code"] == "invalid_transition"
        admin = keys.headers("admin", account_id=1)
        assert (await p.orders.post(f"/cycles/{cycle['id']}/close", headers=admin)).json()["cycle"]["status"] == \
            "consolidated"
        assert (await p.orders.patch(f"/cycles/{cycle['id']}", json={"name": "x"},
                                     headers=p.coordinator())).status_code == 409
        for status in ("delivered", "settled"):
            moved = await p.orders.patch(f"/cycles/{cycle['id']}", json={"status": status}, headers=p.coordinator())
            assert moved.json()["status"] == status
        mine = (await p.orders.get("/cycles?mine=true", headers=p.coordinator())).json()["items"]
        assert [c["id"] for c in mine] == [cycle["id"]]


async def test_products_outside_the_cycle_offer_are_422(migrated, keys, backend):
    async with platform(migrated, keys, backend) as p:
        papa, quinua = await p.product(name="Papa Huaycha"), await p.product(name="Quinua Real", unit="kg")
        point = await p.point()
        cycle = await p.open_cycle(points=[point], products=[papa])
        r = await p.order(consumer=1, cycle=cycle["id"], point=point, lines=[{"product_id": quinua, "quantity": "1"}])
        assert r.status_code == 422 and r.json()["error"]["code"] == "product_not_offered"


def _next(weekday: int, after_days: int = 3):
    """The first date with this weekday (lunes = 0) at least `after_days` from now."""
    day = (utcnow() + timedelta(days=after_days)).date()
    return day + timedelta(days=(weekday - day.weekday()) % 7)


async def test_a_cycle_delivering_on_a_day_none_of_its_points_opens_is_refused_naming_them(migrated, keys, backend):
    async with platform(migrated, keys, backend) as p:
        saturday_only = await p.point(name="Tambo Rodríguez", weekdays=[5])
        thursday_and_sunday = await p.point(name="Feria de la 16 de Julio", weekdays=[3, 6])
        tuesday = _next(1)
        body = _body([saturday_only, thursday_and_sunday], delivery_date=tuesday.isoformat())
        r = await p.orders.post("/cycles", json=body, headers=p.coordinator())
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert error["code"] == "point_closed_on_delivery_day"
        assert error["details"]["weekday"] == "martes"
        assert error["details"]["points"] == [
            {"id": saturday_only, "name": "Tambo Rodríguez", "open_days": ["sábado"]},
            {"id": thursday_and_sunday, "name": "Feria de la 16 de Julio", "open_days": ["jueves", "domingo"]}]
        assert "martes" in error["message"] and "«Tambo Rodríguez»" in error["message"]
        assert "jueves y domingo" in error["message"]
        assert (await p.orders.get("/cycles", headers=p.coordinator())).json()["items"] == []  # nothing written


async def test_changing_a_cycle_to_a_day_one_of_its_points_is_closed_is_refused(migrated, keys, backend):
    async with platform(migrated, keys, backend) as p:
        every_day, saturday_only = await p.point(name="Mercado Camacho"), await p.point(name="Tambo", weekdays=[5])
        saturday = _next(5)
        cycle = (await p.orders.post("/cycles", json=_body([every_day, saturday_only],
                                                           delivery_date=saturday.isoformat()),
                                     headers=p.coordinator())).json()
        assert cycle["delivery_date"] == saturday.isoformat()
        moved = await p.orders.patch(f"/cycles/{cycle['id']}", headers=p.coordinator(),
                                     json={"delivery_date": (saturday + timedelta(days=1)).isoformat()})
        assert moved.status_code == 422 and moved.json()["error"]["details"]["points"] == [
            {"id": saturday_only, "name": "Tambo", "open_days": ["sábado"]}]
        sunday_point = await p.point(name="Feria dominical", weekdays=[6])
        added = await p.orders.patch(f"/cycles/{cycle['id']}", headers=p.coordinator(),
                                     json={"delivery_point_ids": [every_day, sunday_point]})
        assert added.status_code == 422 and [x["id"] for x in added.json()["error"]["details"]["points"]] == \
            [sunday_point]
        kept = (await p.orders.get(f"/cycles/{cycle['id']}", headers=p.coordinator())).json()
        assert kept["delivery_date"] == saturday.isoformat()
        assert kept["delivery_point_ids"] == [every_day, saturday_only]
        both = await p.orders.patch(f"/cycles/{cycle['id']}", headers=p.coordinator(), json={
            "delivery_point_ids": [every_day, sunday_point],
            "delivery_date": (saturday + timedelta(days=1)).isoformat()})
        assert both.status_code == 200, both.text


async def test_other_coordinator_cannot_close_or_read_the_consolidation_of_my_cycle(migrated, keys, backend):
    async with platform(migrated, keys, backend) as p:
        point = await p.point()
        cycle = await p.open_cycle(points=[point])
        other = p.coordinator(901)
        for method, path in (("post", "close"), ("post", "consolidate"), ("get", "consolidation")):
            r = await getattr(p.orders, method)(f"/cycles/{cycle['id']}/{path}", headers=other)
            assert r.status_code == 403 and r.json()["error"]["code"] == "not_your_cycle", (path, r.text)
        basket = {"name": "Canasta", "lines": [{"product_id": await p.product(), "quantity": "1"}]}
        assert (await p.orders.post(f"/cycles/{cycle['id']}/baskets", json=basket, headers=other)).status_code == 403
        assert (await p.orders.get(f"/cycles/{cycle['id']}", headers=other)).json()["status"] == "open"


async def test_delivery_learns_who_coordinates_an_open_cycle_from_orders(migrated, keys, backend):
    async with platform(migrated, keys, backend) as p:
        point, later = await p.point(), await p.point(name="Tambo Rodríguez")
        cycle = await p.open_cycle(points=[point])
        url = f"/cycles/{cycle['id']}/points/{point}/staff"
        assert (await p.delivery.post(url, json={"account_id": 41}, headers=p.coordinator(901))).status_code == 403
        r = await p.delivery.post(url, json={"account_id": 41}, headers=p.coordinator())
        assert r.status_code == 201, r.text
        # a point added to the open cycle afterwards: delivery asks orders again
        await p.orders.patch(f"/cycles/{cycle['id']}", json={"delivery_point_ids": [point, later]},
                             headers=p.coordinator())
        added = await p.delivery.post(f"/cycles/{cycle['id']}/points/{later}/staff", json={"account_id": 42},
                                      headers=p.coordinator())
        assert added.status_code == 201, added.text
        unknown = await p.delivery.post(f"/cycles/424242/points/{point}/staff", json={"account_id": 41},
                                        headers=p.coordinator())
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "cycle_not_found"
