"""Who may act on a cycle's deliveries: its coordinator and the staff she assigns, nobody else.

Each test is named for the attack it stops (issue: trust boundaries). Cycle 5 belongs to
COORDINATOR (closed_cycle says so, as orders' `cycle.closed` does)."""

from sqlalchemy import func, select

from services.delivery.models import PickupAttempts
from tests.delivery.conftest import COORDINATOR, POINT_REGISTRAR, coordinator, create_point
from tests.delivery.test_consignments import apply, closed_cycle, consignment_of
from tests.delivery.test_pickup import booked

OTHER_COORDINATOR = 8
STAFF, OTHER_STAFF = 41, 42


async def two_point_cycle(client, db, keys) -> tuple[int, int]:
    """Cycle 5 serving points A and B; Sabina and Juan deliver to A, nobody to B."""
    a = (await create_point(client, keys))["id"]
    b = (await create_point(client, keys, name="Tambo Rodríguez"))["id"]
    event = closed_cycle(a)
    event.payload["delivery_point_ids"] = [a, b]
    await apply(db, event)
    return a, b


async def assign(client, keys, point_id: int, account_id: int, cycle_id: int = 5, as_account: int = COORDINATOR):
    return await client.post(f"/cycles/{cycle_id}/points/{point_id}/staff", json={"account_id": account_id},
                             headers=coordinator(keys, as_account))


def receipt(quantity: str = "10") -> dict:
    return {"lines": [{"product_id": 101, "received_quantity": quantity}]}


async def test_receiving_more_than_ordered_is_refused(delivery, keys):
    client, db = delivery
    point = await create_point(client, keys)
    await apply(db, closed_cycle(point["id"]))
    sabina = await consignment_of(client, keys, 11)  # 10 kg of tomate ordered
    url = f"/consignments/{sabina['id']}/receive"
    r = await client.post(url, json=receipt("1000"), headers=coordinator(keys))
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "received_exceeds_ordered"
    assert "ordered 10 kg" in error["message"]
    assert error["details"] == {"product_id": 101, "ordered_quantity": "10", "max_received_quantity": "10.5",
                                "unit": "kg"}
    assert (await consignment_of(client, keys, 11))["status"] == "pending"  # nothing recorded
    just_above_margin = await client.post(url, json=receipt("10.501"), headers=coordinator(keys))
    assert just_above_margin.status_code == 422
    heavier_within_margin = await client.post(url, json=receipt("10.5"), headers=coordinator(keys))
    assert heavier_within_margin.status_code == 200, heavier_within_margin.text
    assert heavier_within_margin.json()["accepted_value"] == "87.68"  # 10.5 × 8.35 = 87.675 -> 87.68; no papa


async def test_other_coordinator_cannot_receive_goods_of_my_cycle(delivery, keys):
    client, db = delivery
    point = await create_point(client, keys)
    await apply(db, closed_cycle(point["id"]))
    sabina = await consignment_of(client, keys, 11)
    other = coordinator(keys, OTHER_COORDINATOR)
    r = await client.post(f"/consignments/{sabina['id']}/receive", json=receipt(), headers=other)
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_point_staff"
    assert (await client.get(f"/consignments/{sabina['id']}", headers=other)).status_code == 403
    listed = await client.get("/consignments", params={"cycle_id": 5}, headers=other)
    assert listed.status_code == 200 and listed.json()["items"] == []
    mine = await client.post(f"/consignments/{sabina['id']}/receive", json=receipt(), headers=coordinator(keys))
    assert mine.status_code == 200


async def test_organization_account_reads_its_members_consignments_but_cannot_receive_them(delivery, keys):
    client, db = delivery
    point = await create_point(client, keys)
    await apply(db, closed_cycle(point["id"]))
    sabina, juan = await consignment_of(client, keys, 11), await consignment_of(client, keys, 12)
    own_org = keys.headers("organization", organization_id=1)  # Sabina's organization
    assert (await client.get(f"/consignments/{sabina['id']}", headers=own_org)).status_code == 200
    assert (await client.get(f"/consignments/{juan['id']}", headers=own_org)).status_code == 403
    listed = await client.get("/consignments", params={"cycle_id": 5}, headers=own_org)
    assert [c["producer_id"] for c in listed.json()["items"]] == [11]
    received = await client.post(f"/consignments/{sabina['id']}/receive", json=receipt(), headers=own_org)
    assert received.status_code == 403
    self_made = keys.headers("organization")  # a self-registered organization account, linked to nothing
    assert (await client.get(f"/consignments/{sabina['id']}", headers=self_made)).status_code == 403
    assert (await client.get("/consignments", headers=self_made)).json()["items"] == []
    assert (await client.post(f"/consignments/{sabina['id']}/receive", json=receipt(),
                              headers=self_made)).status_code == 403


async def test_only_the_cycle_coordinator_assigns_staff_to_the_cycle_points(delivery, keys):
    client, db = delivery
    a, _b = await two_point_cycle(client, db, keys)
    stolen = await assign(client, keys, a, OTHER_STAFF, as_account=OTHER_COORDINATOR)
    assert stolen.status_code == 403 and stolen.json()["error"]["code"] == "not_your_cycle"
    self_assigned = await client.post(f"/cycles/5/points/{a}/staff", json={"account_id": STAFF},
                                      headers=keys.headers("consumer", account_id=STAFF))
    assert self_assigned.status_code == 403
    outside = await assign(client, keys, 424242, STAFF)
    assert outside.status_code == 422 and outside.json()["error"]["code"] == "point_not_in_cycle"
    ok = await assign(client, keys, a, STAFF)
    assert ok.status_code == 201 and ok.json()["account_id"] == STAFF and ok.json()["assigned_by"] == COORDINATOR
    assert (await assign(client, keys, a, STAFF)).status_code == 201  # twice changes nothing
    team = await client.get("/cycles/5/staff", headers=coordinator(keys))
    assert [(s["point_id"], s["account_id"]) for s in team.json()] == [(a, STAFF)]
    assert (await client.get("/cycles/5/staff", headers=coordinator(keys, OTHER_COORDINATOR))).status_code == 403
    gone = await client.delete(f"/cycles/5/points/{a}/staff/{STAFF}", headers=coordinator(keys))
    assert gone.status_code == 204
    assert (await client.get("/cycles/5/staff", headers=coordinator(keys))).json() == []


async def test_staff_receive_only_at_the_point_they_were_assigned_to(delivery, keys):
    client, db = delivery
    a, b = await two_point_cycle(client, db, keys)
    await assign(client, keys, b, STAFF)  # staff at B, the goods arrive at A
    sabina = await consignment_of(client, keys, 11)
    volunteer = keys.headers("consumer", account_id=STAFF)
    refused = await client.post(f"/consignments/{sabina['id']}/receive", json=receipt(), headers=volunteer)
    assert refused.status_code == 403
    await assign(client, keys, a, STAFF)
    assert (await client.get(f"/consignments/{sabina['id']}", headers=volunteer)).status_code == 200
    r = await client.post(f"/consignments/{sabina['id']}/receive", json=receipt(), headers=volunteer)
    assert r.status_code == 200, r.text
    # a receipt is corrected by the coordinator, not by staff
    fix = await client.post(f"/consignments/{sabina['id']}/corrections", json={**receipt("9"), "reason": "balanza"},
                            headers=volunteer)
    assert fix.status_code == 403 and fix.json()["error"]["code"] == "not_your_cycle"


async def attempts_counted(db) -> int:
    async with db.session() as session:
        return (await session.execute(select(func.count()).select_from(PickupAttempts))).scalar_one()


async def test_unassigned_staff_cannot_submit_pickup_codes(delivery, keys):
    client, db = delivery
    point = await create_point(client, keys)
    code = await booked(client, point["id"], "930")
    wrong = "22222222" if code != "22222222" else "33333333"
    for outsider in (keys.headers("organization", account_id=STAFF), coordinator(keys, OTHER_COORDINATOR),
                     keys.headers("consumer", account_id=OTHER_STAFF)):
        for guess in (wrong, code):
            r = await client.post("/orders/930/pickup", json={"pickup_code": guess, "point_id": point["id"]},
                                  headers=outsider)
            assert r.status_code == 403 and r.json()["error"]["code"] == "not_point_staff", r.text
    assert await attempts_counted(db) == 0  # refused before anything was counted
    assert (await client.get("/orders/930/pickup-qr", headers=coordinator(keys, OTHER_COORDINATOR))).status_code == 403
    await assign(client, keys, point["id"], STAFF)
    assert (await client.get("/orders/930/pickup-qr", headers=keys.headers("organization",
                                                                            account_id=STAFF))).status_code == 200
    r = await client.post("/orders/930/pickup", json={"pickup_code": code, "point_id": point["id"]},
                          headers=keys.headers("organization", account_id=STAFF))
    assert r.status_code == 200 and r.json()["status"] == "picked_up"


async def test_locked_staff_counter_does_not_block_other_staff(delivery, keys):
    client, db = delivery
    point = await create_point(client, keys)
    code = await booked(client, point["id"], "931")
    await assign(client, keys, point["id"], STAFF)
    await assign(client, keys, point["id"], OTHER_STAFF)
    wrong = "22222222" if code != "22222222" else "33333333"
    guesser = keys.headers("consumer", account_id=STAFF)
    answers = [await client.post("/orders/931/pickup", json={"pickup_code": wrong, "point_id": point["id"]},
                                 headers=guesser) for _ in range(5)]
    assert [r.status_code for r in answers] == [422, 422, 422, 422, 429]
    still_locked = await client.post("/orders/931/pickup", json={"pickup_code": code, "point_id": point["id"]},
                                     headers=guesser)
    assert still_locked.status_code == 429
    colleague = await client.post("/orders/931/pickup", json={"pickup_code": code, "point_id": point["id"]},
                                  headers=keys.headers("consumer", account_id=OTHER_STAFF))
    assert colleague.status_code == 200 and colleague.json()["status"] == "picked_up"
    assert await attempts_counted(db) == 0  # handed over: the counters are done with


async def test_staff_mark_no_shows_only_at_their_point(delivery, keys):
    client, db = delivery
    a, b = await two_point_cycle(client, db, keys)
    await booked(client, a, "940")
    await booked(client, b, "941")
    event = closed_cycle(a)
    event.payload.update(delivery_point_ids=[a, b], delivery_date="2020-01-04")
    await apply(db, event)  # the delivery day is over
    await assign(client, keys, b, STAFF)
    assert (await client.post("/cycles/5/no-shows", headers=keys.headers("consumer"))).status_code == 403
    assert (await client.post("/cycles/5/no-shows", headers=coordinator(keys, OTHER_COORDINATOR))).status_code == 403
    at_b = await client.post("/cycles/5/no-shows", headers=keys.headers("consumer", account_id=STAFF))
    assert at_b.status_code == 200 and at_b.json()["no_shows"] == ["941"]
    everywhere = await client.post("/cycles/5/no-shows", headers=coordinator(keys))
    assert everywhere.json()["no_shows"] == ["940"]


async def test_other_coordinator_cannot_plan_or_read_my_route_plan(delivery, keys):
    client, db = delivery
    point = await create_point(client, keys)
    await apply(db, closed_cycle(point["id"]))
    other = coordinator(keys, OTHER_COORDINATOR)
    plan = await client.post("/cycles/5/routes", json={"vehicles": {"count": 1, "capacity_kg": 500}}, headers=other)
    assert plan.status_code == 403 and plan.json()["error"]["code"] == "not_your_cycle"
    assert (await client.get("/cycles/5/routes", headers=other)).status_code == 403


async def test_other_coordinator_cannot_edit_or_retire_a_point_she_did_not_register(delivery, keys):
    client, _ = delivery
    point = await create_point(client, keys)
    intruder = coordinator(keys, OTHER_COORDINATOR)
    edit = await client.patch(f"/points/{point['id']}", json={"max_orders_per_cycle": 1}, headers=intruder)
    assert edit.status_code == 403 and edit.json()["error"]["code"] == "not_your_point"
    assert (await client.delete(f"/points/{point['id']}", headers=intruder)).status_code == 403
    assert (await client.get(f"/points/{point['id']}")).json()["max_orders_per_cycle"] == 25
    mine = await client.patch(f"/points/{point['id']}", json={"max_orders_per_cycle": 1},
                              headers=coordinator(keys, POINT_REGISTRAR))
    assert mine.status_code == 200 and mine.json()["max_orders_per_cycle"] == 1
    admin = await client.delete(f"/points/{point['id']}", headers=keys.headers("admin"))
    assert admin.status_code == 204
