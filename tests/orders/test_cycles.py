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
