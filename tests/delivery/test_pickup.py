"""Pickup codes, their QR image, the rate limit on wrong codes, no-shows and cancelled orders."""

import io
import math
from datetime import UTC, datetime, timedelta

from PIL import Image
from sqlalchemy import select

from services.common.events import Envelope
from services.delivery.bookings import PICKUP_ALPHABET, PICKUP_CODE_LENGTH, new_pickup_code
from services.delivery.models import Booking, PickupAttempts, kernel
from services.delivery.pickup import BOLIVIA, mark_no_shows
from services.delivery.pickup import pick_up as pick_up_order
from tests.delivery.conftest import COORDINATOR, SERVICE_KEY, coordinator, create_point
from tests.delivery.test_consignments import apply, closed_cycle
from tests.delivery.test_points_and_bookings import outbox_events


async def booked(client, point_id: int, order_id: str, cycle_id: int = 5) -> str:
    """A confirmed booking of cycle 5, whose owner delivery knows (it closed: closed_cycle)."""
    await apply(client.app.state.db, closed_cycle(point_id, cycle_id))
    r = await client.post("/internal/bookings", json={"order_id": order_id, "point_id": point_id,
                                                      "cycle_id": cycle_id}, headers=SERVICE_KEY)
    assert r.status_code == 201, r.text
    r = await client.post(f"/internal/bookings/{order_id}/confirm", headers=SERVICE_KEY)
    return r.json()["pickup_code"]


def test_pickup_codes_are_long_enough_and_unambiguous():
    codes = {new_pickup_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(len(c) == PICKUP_CODE_LENGTH for c in codes)
    assert set("".join(codes)) <= set(PICKUP_ALPHABET)
    assert not set("01ILO") & set(PICKUP_ALPHABET)
    assert PICKUP_CODE_LENGTH * math.log2(len(PICKUP_ALPHABET)) > 39  # ≈ 8.5e11 codes per order
    # every symbol is used (a uniform choice over the alphabet, not a fixed subset)
    assert set("".join(codes)) == set(PICKUP_ALPHABET)


async def test_right_code_at_the_right_point_hands_the_order_over(delivery, keys):
    client, db = delivery
    point = await create_point(client, keys)
    code = await booked(client, point["id"], "900")
    staff = coordinator(keys)
    r = await client.post("/orders/900/pickup", json={"pickup_code": code.lower()[:4] + "-" + code[4:],
                                                      "point_id": point["id"]}, headers=staff)
    assert r.status_code == 200 and r.json()["status"] == "picked_up"
    events = await outbox_events(db, "order.picked_up")
    assert [(e["order_id"], e["delivery_point_id"], e["cycle_id"]) for e in events] == [("900", point["id"], 5)]
    twice = await client.post("/orders/900/pickup", json={"pickup_code": code, "point_id": point["id"]}, headers=staff)
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "already_picked_up"


async def test_wrong_point_is_refused_and_says_where(delivery, keys):
    client, _ = delivery
    point = await create_point(client, keys)
    other = await create_point(client, keys, name="Tambo Rodríguez")
    code = await booked(client, point["id"], "901")
    r = await client.post("/orders/901/pickup", json={"pickup_code": code, "point_id": other["id"]},
                          headers=coordinator(keys))
    assert r.status_code == 409 and r.json()["error"]["code"] == "wrong_point"
    assert r.json()["error"]["details"]["point_id"] == point["id"]


async def test_wrong_codes_are_rate_limited_per_order(delivery, keys):
    client, db = delivery
    point = await create_point(client, keys)
    code = await booked(client, point["id"], "902")
    staff = coordinator(keys)
    wrong = "22222222" if code != "22222222" else "33333333"
    answers = [await client.post("/orders/902/pickup", json={"pickup_code": wrong, "point_id": point["id"]},
                                 headers=staff) for _ in range(5)]
    assert [r.status_code for r in answers] == [422, 422, 422, 422, 429]
    assert answers[0].json()["error"]["code"] == "wrong_pickup_code"
    assert answers[0].json()["error"]["details"]["attempts_left"] == 4
    assert int(answers[-1].headers["retry-after"]) > 0
    # locked: even the right code waits, and the lock is in the database (holds across workers)
    locked = await client.post("/orders/902/pickup", json={"pickup_code": code, "point_id": point["id"]},
                               headers=staff)
    assert locked.status_code == 429 and locked.json()["error"]["code"] == "too_many_attempts"
    assert 0 < int(locked.headers["retry-after"]) <= 15 * 60
    async with db.session() as session:
        attempts = (await session.execute(select(PickupAttempts).where(PickupAttempts.order_id == "902"))).scalar_one()
        assert attempts.account_id == COORDINATOR
        until = attempts.locked_until
        until = until if until.tzinfo else until.replace(tzinfo=UTC)
    async with db.session() as session:  # once the lock is over, the right code works
        done = await pick_up_order(session=session, kernel=kernel, order_id="902", pickup_code=code,
                                   point_id=point["id"], staff_account_id=COORDINATOR,
                                   now=until + timedelta(seconds=1), max_failures=5, lock_minutes=15)
        assert done.status == "picked_up"


async def test_pickup_needs_point_staff(delivery, keys):
    client, _ = delivery
    point = await create_point(client, keys)
    code = await booked(client, point["id"], "903")
    r = await client.post("/orders/903/pickup", json={"pickup_code": code, "point_id": point["id"]},
                          headers=keys.headers("consumer"))
    assert r.status_code == 403


async def test_owner_and_staff_get_the_qr_image_others_do_not(delivery, keys):
    client, db = delivery
    point = await create_point(client, keys)
    await booked(client, point["id"], "900")
    await apply(db, closed_cycle(point["id"]))  # its bags say order 900 is consumer 31's
    mine = await client.get("/orders/900/pickup-qr", headers=keys.headers("consumer", account_id=31))
    assert mine.status_code == 200 and mine.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(mine.content))
    assert image.format == "PNG" and image.size[0] > 100
    assert (await client.get("/orders/900/pickup-qr", headers=coordinator(keys))).status_code == 200
    other = await client.get("/orders/900/pickup-qr", headers=keys.headers("consumer", account_id=32))
    assert other.status_code == 403
    assert (await client.get("/orders/900/pickup-qr")).status_code == 401


async def test_confirmed_orders_not_picked_up_by_window_end_become_no_shows(delivery, keys):
    client, db = delivery
    point = await create_point(client, keys)  # sábado 08:00–13:00
    await booked(client, point["id"], "910")
    await booked(client, point["id"], "911")
    await apply(db, closed_cycle(point["id"]))  # delivery on sábado 2026-11-28
    async with db.session() as session:
        during = datetime(2026, 11, 28, 12, 59, tzinfo=BOLIVIA)
        assert await mark_no_shows(session=session, kernel=kernel, now=during) == []
    code = (await client.post("/internal/bookings/910/confirm", headers=SERVICE_KEY)).json()["pickup_code"]
    assert (await client.post("/orders/910/pickup", json={"pickup_code": code, "point_id": point["id"]},
                              headers=coordinator(keys))).status_code == 200
    async with db.session() as session:
        after = datetime(2026, 11, 28, 13, 0, tzinfo=BOLIVIA)
        assert await mark_no_shows(session=session, kernel=kernel, now=after) == ["911"]
        assert await mark_no_shows(session=session, kernel=kernel, now=after) == []
    events = await outbox_events(db, "order.no_show")
    assert events == [{"schema_version": 1, "order_id": "911", "cycle_id": 5, "delivery_point_id": point["id"]}]
    endpoint = await client.post("/cycles/5/no-shows", headers=coordinator(keys))
    assert endpoint.status_code == 200 and endpoint.json() == {"cycle_id": 5, "no_shows": []}


async def test_cancelled_order_frees_its_slot_for_the_first_waiting(delivery, keys):
    client, db = delivery
    point = await create_point(client, keys, max_orders_per_cycle=1)
    await booked(client, point["id"], "920")
    waiting = await client.post("/internal/bookings", json={"order_id": "921", "point_id": point["id"],
                                                            "cycle_id": 5}, headers=SERVICE_KEY)
    assert waiting.status_code == 409
    await apply(db, Envelope(type="order.cancelled", aggregate_id="920", source="orders", payload={
        "order_id": 920, "cycle_id": 5, "consumer_account_id": 1, "delivery_point_id": point["id"],
        "line_ids": [], "total": "10.00", "reason": "consumer"}))
    assert [e["order_id"] for e in await outbox_events(db, "booking.promoted")] == ["921"]
    confirmed = await client.post("/internal/bookings/921/confirm", headers=SERVICE_KEY)
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "confirmed"


async def test_delivery_stats_count_orders_pickups_and_no_shows_per_point(delivery, keys):
    client, _ = delivery
    point = await create_point(client, keys)
    elsewhere = await create_point(client, keys, name="Mercado La Pampa", municipality_code="030101")
    code = await booked(client, point["id"], "930")
    await booked(client, point["id"], "931")
    await booked(client, elsewhere["id"], "932")
    await client.post("/orders/930/pickup", json={"pickup_code": code, "point_id": point["id"]},
                      headers=coordinator(keys))
    r = await client.get("/stats/deliveries", params={"municipality": "020101"},
                         headers=keys.headers("municipality", municipality_code="020101"))
    assert r.status_code == 200, r.text
    rows = r.json()["points"]
    assert [(p["point_id"], p["orders"], p["picked_up"], p["no_shows"]) for p in rows] == [(point["id"], 2, 1, 0)]
    assert "consumer_account_id" not in r.text and "pickup_code" not in r.text
    other = await client.get("/stats/deliveries", params={"municipality": "030101"},
                             headers=keys.headers("municipality", municipality_code="020101"))
    assert other.status_code == 403
    gateway = await client.get("/stats/deliveries", params={"municipality": "030101", "from": "2020-01-01"},
                               headers=SERVICE_KEY)
    assert gateway.status_code == 200 and gateway.json()["points"][0]["orders"] == 1
    assert (await client.get("/stats/deliveries", headers=keys.headers("consumer"))).status_code == 403


async def test_cancelling_an_order_already_picked_up_changes_nothing_and_is_not_retried(delivery, keys):
    client, db = delivery
    point = await create_point(client, keys)
    code = await booked(client, point["id"], "940")
    await client.post("/orders/940/pickup", json={"pickup_code": code, "point_id": point["id"]},
                      headers=coordinator(keys))
    handled = await apply(db, Envelope(type="order.cancelled", aggregate_id="940", payload={
        "order_id": 940, "cycle_id": 5, "consumer_account_id": 1, "delivery_point_id": point["id"],
        "line_ids": [], "total": "1.00", "reason": "late"}))
    assert handled is True
    async with db.session() as session:
        booking = (await session.execute(select(Booking).where(Booking.order_id == "940"))).scalar_one()
        assert booking.status == "picked_up"


async def test_staff_list_the_pickups_of_their_point_without_codes_and_the_coordinator_of_her_cycle(delivery, keys):
    client, _ = delivery
    other_point = await create_point(client, keys)
    await booked(client, other_point["id"], "910")
    point = await create_point(client, keys, name="Tambo Rodríguez")
    await booked(client, point["id"], "911")  # the cycle now serves this point (its latest `cycle.closed`)
    staff = keys.headers("consumer", account_id=40)  # any account may be assigned
    r = await client.post(f"/cycles/5/points/{point['id']}/staff", json={"account_id": 40}, headers=coordinator(keys))
    assert r.status_code == 201, r.text

    mine = (await client.get("/pickups", headers=staff)).json()
    assert [(p["order_id"], p["point_id"], p["status"]) for p in mine] == [("911", point["id"], "confirmed")]
    assert "pickup_code" not in mine[0]
    assert [(d["cycle_id"], d["point_id"]) for d in (await client.get("/staff/me", headers=staff)).json()] == \
        [(5, point["id"])]
    everything = (await client.get("/pickups?cycle_id=5", headers=coordinator(keys))).json()
    assert {p["order_id"] for p in everything} == {"910", "911"}
    assert (await client.get("/pickups", headers=coordinator(keys, account_id=8))).json() == []
    assert (await client.get("/staff/me", headers=keys.headers("consumer", account_id=41))).json() == []
