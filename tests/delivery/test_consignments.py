"""Consignments from cycle.closed, and receiving: the accepted value follows what arrived."""

from decimal import Decimal

from services.common.events import Envelope
from services.common.inbox import handle_event
from services.delivery.app import SPEC
from services.delivery.models import kernel
from tests.delivery.conftest import COORDINATOR, coordinator, create_point
from tests.delivery.test_points_and_bookings import outbox_events


def closed_cycle(point_id: int, cycle_id: int = 5) -> Envelope:
    return Envelope(type="cycle.closed", aggregate_id=str(cycle_id), source="orders", payload={
        "schema_version": 1, "cycle_id": cycle_id, "name": "Ciclo 5", "delivery_date": "2026-11-28",
        "coordinator_account_id": COORDINATOR, "delivery_point_ids": [point_id], "fee_rules": {},
        "consignments": [
            {"producer_id": 11, "producer_name": "Sabina Mamani", "organization_id": 1, "delivery_point_id": point_id,
             "pickup": {"lat": -16.5736, "lon": -68.1658},
             "lines": [{"product_id": 101, "product_name": "Tomate", "quantity": "10", "unit": "kg",
                        "unit_price": "8.35", "kg": "10"},
                       {"product_id": 102, "product_name": "Papa huaycha", "quantity": "2", "unit": "arroba",
                        "unit_price": "61.17", "kg": "23"}]},
            {"producer_id": 12, "producer_name": "Juan Quispe", "organization_id": None, "delivery_point_id": point_id,
             "pickup": {"lat": -16.6689, "lon": -68.0203},
             "lines": [{"product_id": 103, "product_name": "Lechuga crespa", "quantity": "12", "unit": "unidad",
                        "unit_price": "3.00", "kg": None}]},
        ],
        "bags": [{"order_id": "900", "delivery_point_id": point_id, "consumer_account_id": 31}],
    })


async def apply(db, envelope) -> bool:
    return await handle_event(db, kernel, SPEC.event_handlers, envelope)


async def consignment_of(client, keys, producer_id: int) -> dict:
    items = (await client.get("/consignments", params={"cycle_id": 5},
                              headers=coordinator(keys))).json()["items"]
    return next(c for c in items if c["producer_id"] == producer_id)


async def test_cycle_closed_makes_one_consignment_per_producer_and_point_once(delivery, keys):
    client, db = delivery
    point = await create_point(client, keys)
    event = closed_cycle(point["id"])
    assert await apply(db, event) is True
    assert await apply(db, event) is False  # same event id: no second effect
    assert await apply(db, Envelope(type="cycle.closed", aggregate_id="5", payload=event.payload)) is True
    items = (await client.get("/consignments", params={"cycle_id": 5}, headers=coordinator(keys))).json()
    assert sorted(c["producer_id"] for c in items["items"]) == [11, 12]
    sabina = await consignment_of(client, keys, 11)
    assert [(ln["product_id"], ln["ordered_quantity"], ln["unit_price"]) for ln in sabina["lines"]] == [
        (101, "10", "8.35"), (102, "2", "61.17")]
    assert sabina["status"] == "pending" and sabina["accepted_value"] is None


async def test_receiving_less_than_ordered_lowers_the_accepted_value_exactly(delivery, keys):
    client, db = delivery
    point = await create_point(client, keys)
    await apply(db, closed_cycle(point["id"]))
    sabina = await consignment_of(client, keys, 11)
    r = await client.post(f"/consignments/{sabina['id']}/receive", headers=coordinator(keys),
                          json={"lines": [
                              {"product_id": 101, "received_quantity": "9.385", "rejected_quantity": "0.5",
                               "reject_reason": "tomates magullados"},
                              {"product_id": 102, "received_quantity": "1.5"}]})
    assert r.status_code == 200, r.text
    body = r.json()
    # (9.385 - 0.5) × 8.35 = 74.18975 -> 74.19 ; 1.5 × 61.17 = 91.755 -> 91.76 (half up)
    assert [ln["accepted_value"] for ln in body["lines"]] == ["74.19", "91.76"]
    assert body["accepted_value"] == "165.95"
    full_value = Decimal("10") * Decimal("8.35") + 2 * Decimal("61.17")
    assert Decimal(body["accepted_value"]) < full_value
    assert body["lines"][0]["reject_reason"] == "tomates magullados"

    events = await outbox_events(db, "consignment.delivered")
    assert len(events) == 1
    event = events[0]
    assert event["consignment_id"] == sabina["id"] and event["producer_id"] == 11 and event["organization_id"] == 1
    assert event["accepted_value"] == "165.95"
    assert event["lines"][0] == {"product_id": 101, "ordered_quantity": "10", "received_quantity": "9.385",
                                 "rejected_quantity": "0.5", "reject_reason": "tomates magullados", "unit": "kg",
                                 "unit_price": "8.35", "accepted_value": "74.19"}


async def test_a_line_left_out_did_not_arrive_and_receiving_twice_is_refused(delivery, keys):
    client, db = delivery
    point = await create_point(client, keys)
    await apply(db, closed_cycle(point["id"]))
    sabina = await consignment_of(client, keys, 11)
    url = f"/consignments/{sabina['id']}/receive"
    r = await client.post(url, headers=coordinator(keys),
                          json={"lines": [{"product_id": 101, "received_quantity": "10"}]})
    assert r.status_code == 200
    assert [ln["accepted_value"] for ln in r.json()["lines"]] == ["83.50", "0.00"]
    again = await client.post(url, headers=coordinator(keys),
                              json={"lines": [{"product_id": 101, "received_quantity": "10"}]})
    assert again.status_code == 409 and again.json()["error"]["code"] == "consignment_already_received"


async def test_receiving_refuses_unclear_lines(delivery, keys):
    client, db = delivery
    point = await create_point(client, keys)
    await apply(db, closed_cycle(point["id"]))
    sabina = await consignment_of(client, keys, 11)
    url = f"/consignments/{sabina['id']}/receive"
    staff = coordinator(keys)
    cases = {
        "unknown_consignment_line": [{"product_id": 999, "received_quantity": "1"}],
        "rejected_exceeds_received": [{"product_id": 101, "received_quantity": "1", "rejected_quantity": "2",
                                       "reject_reason": "podrido"}],
        "reject_reason_required": [{"product_id": 101, "received_quantity": "3", "rejected_quantity": "1"}],
        "duplicate_line": [{"product_id": 101, "received_quantity": "1"}, {"product_id": 101, "received_quantity": "2"}],
    }
    for code, lines in cases.items():
        r = await client.post(url, headers=staff, json={"lines": lines})
        assert r.status_code == 422 and r.json()["error"]["code"] == code, (code, r.text)
    assert (await client.post(url, headers=keys.headers("consumer"),
                              json={"lines": [{"product_id": 101, "received_quantity": "1"}]})).status_code == 403
    assert (await client.post("/consignments/99999/receive", headers=staff,
                              json={"lines": [{"product_id": 101, "received_quantity": "1"}]})).status_code == 404


async def test_a_producer_lists_only_her_own_consignments_as_her_pick_list(delivery, keys):
    client, db = delivery
    point = await create_point(client, keys)
    assert await apply(db, closed_cycle(point["id"]))
    mine = await client.get("/consignments", params={"cycle_id": 5}, headers=keys.headers("producer", producer_id=11))
    assert mine.status_code == 200
    assert [c["producer_id"] for c in mine.json()["items"]] == [11]
    assert [ln["product_name"] for ln in mine.json()["items"][0]["lines"]] == ["Tomate", "Papa huaycha"]
    other = await client.get("/consignments", params={"producer_id": 12},
                             headers=keys.headers("producer", producer_id=11))
    assert other.status_code == 403 and other.json()["error"]["code"] == "not_your_consignments"
    unlinked = await client.get("/consignments", headers=keys.headers("producer"))
    assert unlinked.status_code == 403
    # any account may be point staff, so anyone may ask; an account with no duty sees nothing
    stranger = await client.get("/consignments", params={"cycle_id": 5}, headers=keys.headers("consumer"))
    assert stranger.status_code == 200 and stranger.json()["items"] == []


async def test_a_producer_reads_her_latest_deliveries_first_and_her_pick_list_apart(delivery, keys):
    client, db = delivery
    point = await create_point(client, keys)
    for cycle_id in (5, 6, 7, 8):  # four cycles: she delivered the first three, the fourth is still to bring
        await apply(db, closed_cycle(point["id"], cycle_id))
    sabina = keys.headers("producer", producer_id=11)
    everything = (await client.get("/consignments", params={"producer_id": 11}, headers=sabina)).json()["items"]
    assert [c["cycle_id"] for c in everything] == [5, 6, 7, 8]  # oldest first, as before
    for consignment in everything[:3]:
        r = await client.post(f"/consignments/{consignment['id']}/receive", headers=coordinator(keys),
                              json={"lines": [{"product_id": 101, "received_quantity": "10"}]})
        assert r.status_code == 200, r.text

    def cycles(response) -> list[int]:
        assert response.status_code == 200, response.text
        return [c["cycle_id"] for c in response.json()["items"]]

    pick_list = await client.get("/consignments", params={"producer_id": 11, "status": "pending"}, headers=sabina)
    assert cycles(pick_list) == [8]
    latest = await client.get("/consignments", params={"producer_id": 11, "status": "received", "sort": "newest",
                                                       "limit": 2}, headers=sabina)
    assert cycles(latest) == [7, 6]
    older = await client.get("/consignments", headers=sabina, params={
        "producer_id": 11, "status": "received", "sort": "newest", "limit": 2,
        "cursor": latest.json()["next_cursor"]})
    assert cycles(older) == [5] and older.json()["next_cursor"] is None
    wrong = await client.get("/consignments", params={"status": "lost", "sort": "random"}, headers=sabina)
    assert wrong.status_code == 422
    # the filters only narrow what she may read: another producer's deliveries stay hers alone
    theirs = await client.get("/consignments", params={"producer_id": 12, "status": "received", "sort": "newest"},
                              headers=sabina)
    assert theirs.status_code == 403
