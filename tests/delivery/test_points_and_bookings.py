"""Delivery points and the slot booking contract that orders relies on (docs/internal-api.md)."""

from tests.delivery.conftest import SERVICE_KEY, create_point, point_body


async def test_coordinator_creates_point_and_anyone_reads_it(delivery, keys):
    client, _ = delivery
    point = await create_point(client, keys)
    r = await client.get(f"/points/{point['id']}")
    assert r.status_code == 200
    assert r.json()["name"] == "Mercado Camacho" and r.json()["schedule"][0]["weekday"] == 5
    missing = await client.get("/points/999999")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "point_not_found"


async def test_consumers_cannot_create_points_and_bad_coordinates_are_refused(delivery, keys):
    client, _ = delivery
    r = await client.post("/points", json=point_body(), headers=keys.headers("consumer"))
    assert r.status_code == 403
    r = await client.post("/points", json=point_body(lat=-95), headers=keys.headers("coordinator"))
    assert r.status_code == 422 and "lat" in r.json()["error"]["message"]
    r = await client.post("/points", json=point_body(schedule=[{"weekday": 2, "opens": "14:00", "closes": "09:00"}]),
                          headers=keys.headers("coordinator"))
    assert r.status_code == 422


async def test_patch_edits_only_given_fields(delivery, keys):
    client, _ = delivery
    point = await create_point(client, keys)
    r = await client.patch(f"/points/{point['id']}", json={"max_orders_per_cycle": 3, "active": False},
                           headers=keys.headers("coordinator", account_id=1))
    assert r.status_code == 200
    assert r.json()["max_orders_per_cycle"] == 3 and r.json()["active"] is False
    assert r.json()["name"] == point["name"]


async def test_points_list_is_paginated(delivery, keys):
    client, _ = delivery
    for i in range(5):
        await create_point(client, keys, name=f"Punto {i}")
    first = (await client.get("/points", params={"limit": 3})).json()
    assert len(first["items"]) == 3 and first["next_cursor"]
    second = (await client.get("/points", params={"limit": 3, "cursor": first["next_cursor"]})).json()
    ids = [p["id"] for p in first["items"] + second["items"]]
    assert len(ids) == len(set(ids)) >= 5


async def test_hold_confirm_release_is_idempotent_by_order_id(delivery, keys):
    client, _ = delivery
    point = await create_point(client, keys, max_orders_per_cycle=2)
    body = {"order_id": "42", "point_id": point["id"], "cycle_id": 9, "capacity": None}
    first = await client.post("/internal/bookings", json=body, headers=SERVICE_KEY)
    again = await client.post("/internal/bookings", json=body, headers=SERVICE_KEY)
    assert first.status_code == again.status_code == 201
    assert first.json() == {"order_id": "42", "point_id": point["id"], "cycle_id": 9, "status": "held",
                            "pickup_code": None}
    avail = (await client.get(f"/points/{point['id']}/availability", params={"cycle_id": 9})).json()
    assert avail["booked"] == 1 and avail["slots_left"] == 1

    confirmed = await client.post("/internal/bookings/42/confirm", headers=SERVICE_KEY)
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "confirmed"
    code = confirmed.json()["pickup_code"]
    assert (await client.post("/internal/bookings/42/confirm", headers=SERVICE_KEY)).json()["pickup_code"] == code

    for _ in range(2):
        released = await client.post("/internal/bookings/42/release", headers=SERVICE_KEY)
        assert released.status_code == 200 and released.json()["status"] == "released"
    assert (await client.post("/internal/bookings/nope/release", headers=SERVICE_KEY)).status_code == 200
    avail = (await client.get(f"/points/{point['id']}/availability", params={"cycle_id": 9})).json()
    assert avail["booked"] == 0 and avail["slots_left"] == 2


async def test_hold_with_confirm_gives_the_pickup_code_in_one_step_and_stays_idempotent(delivery, keys):
    client, _ = delivery
    point = await create_point(client, keys, max_orders_per_cycle=1)
    body = {"order_id": "77", "point_id": point["id"], "cycle_id": 9, "confirm": True}
    first = await client.post("/internal/bookings", json=body, headers=SERVICE_KEY)
    again = await client.post("/internal/bookings", json=body, headers=SERVICE_KEY)
    assert first.status_code == again.status_code == 201
    assert first.json()["status"] == "confirmed" and len(first.json()["pickup_code"]) >= 8
    assert again.json()["pickup_code"] == first.json()["pickup_code"]
    avail = (await client.get(f"/points/{point['id']}/availability", params={"cycle_id": 9})).json()
    assert avail["booked"] == 1 and avail["slots_left"] == 0
    full = await client.post("/internal/bookings", json={**body, "order_id": "78"}, headers=SERVICE_KEY)
    assert full.status_code == 409 and full.json()["error"]["code"] == "point_full"


async def test_internal_bookings_need_the_service_key(delivery, keys):
    client, _ = delivery
    point = await create_point(client, keys)
    r = await client.post("/internal/bookings", json={"order_id": "1", "point_id": point["id"], "cycle_id": 1},
                          headers=keys.headers("admin"))
    assert r.status_code == 403 and r.json()["error"]["code"] == "service_only"


async def test_full_point_waitlists_and_a_release_promotes_the_first_waiting(delivery, keys):
    client, db = delivery
    point = await create_point(client, keys, max_orders_per_cycle=5)
    pid = point["id"]
    for order in ("a", "b"):
        r = await client.post("/internal/bookings", json={"order_id": order, "point_id": pid, "cycle_id": 3,
                                                          "capacity": 1 if order == "a" else None},
                              headers=SERVICE_KEY)
        if order == "a":
            assert r.status_code == 201
    # capacity override of the cycle (1) wins over the point's 5
    b = await client.post("/internal/bookings", json={"order_id": "b", "point_id": pid, "cycle_id": 3, "capacity": 1},
                          headers=SERVICE_KEY)
    assert b.status_code == 409
    assert b.json()["error"]["code"] == "point_full"
    details = b.json()["error"]["details"]
    assert {k: details[k] for k in ("point_id", "cycle_id", "waitlist_position")} == {
        "point_id": pid, "cycle_id": 3, "waitlist_position": 1}
    c = await client.post("/internal/bookings", json={"order_id": "c", "point_id": pid, "cycle_id": 3, "capacity": 1},
                          headers=SERVICE_KEY)
    assert c.json()["error"]["details"]["waitlist_position"] == 2
    avail = (await client.get(f"/points/{pid}/availability", params={"cycle_id": 3})).json()
    assert avail == {"point_id": pid, "cycle_id": 3, "capacity": 1, "booked": 1, "slots_left": 0, "waitlisted": 2}

    confirm_waiting = await client.post("/internal/bookings/b/confirm", headers=SERVICE_KEY)
    assert confirm_waiting.status_code == 409 and confirm_waiting.json()["error"]["code"] == "booking_waitlisted"

    await client.post("/internal/bookings/a/release", headers=SERVICE_KEY)
    promoted = await client.post("/internal/bookings", json={"order_id": "b", "point_id": pid, "cycle_id": 3,
                                                             "capacity": 1}, headers=SERVICE_KEY)
    # the promoted booking is confirmed at once, and the event carries its pickup code
    assert promoted.status_code == 201 and promoted.json()["status"] == "confirmed"
    events = await outbox_events(db, "booking.promoted")
    assert [(e["order_id"], e["waitlist_id"], e["pickup_code"]) for e in events] == [
        ("b", details["waitlist_id"], promoted.json()["pickup_code"])]
    c_again = await client.post("/internal/bookings", json={"order_id": "c", "point_id": pid, "cycle_id": 3,
                                                            "capacity": 1}, headers=SERVICE_KEY)
    assert c_again.json()["error"]["details"]["waitlist_position"] == 1


async def outbox_events(db, event_type: str) -> list[dict]:
    from sqlalchemy import select

    from services.delivery.models import kernel

    async with db.session() as session:
        rows = (await session.execute(select(kernel.outbox.c.payload).where(kernel.outbox.c.event_type == event_type)
                                      .order_by(kernel.outbox.c.id))).scalars()
        return list(rows)


async def test_retired_point_is_kept_but_hidden_and_takes_no_bookings(delivery, keys):
    client, _ = delivery
    point = await create_point(client, keys)
    assert (await client.delete(f"/points/{point['id']}", headers=keys.headers("consumer"))).status_code == 403
    r = await client.delete(f"/points/{point['id']}", headers=keys.headers("coordinator", account_id=1))
    assert r.status_code == 204
    assert (await client.get(f"/points/{point['id']}")).json()["active"] is False
    assert point["id"] not in [p["id"] for p in (await client.get("/points")).json()["items"]]
    assert point["id"] in [p["id"] for p in (await client.get("/points", params={"active": False})).json()["items"]]
    r = await client.post("/internal/bookings", json={"order_id": "77", "point_id": point["id"], "cycle_id": 1},
                          headers=SERVICE_KEY)
    assert r.status_code == 409 and r.json()["error"]["code"] == "point_inactive"


async def test_the_booking_that_fills_four_fifths_of_a_point_says_it_is_nearly_full(delivery, keys):
    client, db = delivery
    pid = (await create_point(client, keys, max_orders_per_cycle=5))["id"]

    async def hold(order: str) -> int:
        return (await client.post("/internal/bookings", json={"order_id": order, "point_id": pid, "cycle_id": 4},
                                  headers=SERVICE_KEY)).status_code

    assert [await hold(o) for o in ("a", "b", "c")] == [201, 201, 201]
    assert await outbox_events(db, "point.nearly_full") == []
    assert await hold("d") == 201  # 4 of 5: 80 %
    assert await hold("e") == 201  # full: already told
    [event] = await outbox_events(db, "point.nearly_full")
    assert (event["point_id"], event["cycle_id"], event["booked"], event["capacity"]) == (pid, 4, 4, 5)
