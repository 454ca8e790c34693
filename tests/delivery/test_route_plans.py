"""Route planning for a closed cycle with PyVRP: the demo cycle's plan is feasible, and impossible
requests are refused with the reason."""

import itertools
from collections import Counter
from datetime import timedelta

import pytest

from infra.demo_world import build_world
from services.delivery.demo import DEMO_COORDINATOR_ACCOUNT, DEMO_CYCLE_ID, demo_cycle_payload, load_demo
from services.delivery.points import haversine_km
from services.delivery.routing import HaversineProvider, seconds_of
from tests.delivery.conftest import coordinator, create_point
from tests.delivery.test_consignments import apply, closed_cycle

pytestmark = pytest.mark.filterwarnings("ignore::pyvrp.exceptions.PenaltyBoundWarning")
FLEET = {"count": 3, "capacity_kg": 250}


@pytest.fixture
async def demo(delivery):
    client, db = delivery
    world = build_world()
    await load_demo(db, world)
    await load_demo(db, world)  # idempotent
    return client, db, world


async def test_demo_cycle_plan_is_feasible_and_stored(demo, keys):
    client, _, world = demo
    staff = keys.headers("coordinator", account_id=DEMO_COORDINATOR_ACCOUNT)
    r = await client.post(f"/cycles/{DEMO_CYCLE_ID}/routes", json={"vehicles": FLEET, "max_seconds": 1},
                          headers=staff)
    assert r.status_code == 201, r.text
    plan = r.json()
    payload = demo_cycle_payload(world)
    expected_load: Counter = Counter()
    for c in payload["consignments"]:
        for line in c["lines"]:
            expected_load[c["delivery_point_id"]] += float(line["kg"])
    points = {p.id: p for p in world.delivery_points}
    served = Counter()
    for route in plan["routes"]:
        assert route["load_kg"] <= FLEET["capacity_kg"]
        assert route["load_kg"] == pytest.approx(sum(s["load_kg"] for s in route["stops"]))
        for stop in route["stops"]:
            served[stop["point_id"]] += 1
            assert stop["load_kg"] == pytest.approx(expected_load[stop["point_id"]], abs=0.001)
            windows = [w for w in points[stop["point_id"]].schedule if w["weekday"] == 5]
            arrival = seconds_of(stop["arrival"])
            assert any(seconds_of(w["opens"]) <= arrival and arrival + 600 <= seconds_of(w["closes"])
                       for w in windows), stop
    assert served == Counter(dict.fromkeys(expected_load, 1))  # every drop served exactly once
    assert plan["total_load_kg"] == pytest.approx(sum(expected_load.values()), abs=0.001)
    assert len(plan["routes"]) >= 3  # 523 kg do not fit in two 250 kg vans

    # distances are haversine × road factor, summed along the route
    depot = (plan["depot"]["lat"], plan["depot"]["lon"])
    factor = HaversineProvider().road_factor
    for route in plan["routes"]:
        path = [depot, *[(points[s["point_id"]].lat, points[s["point_id"]].lon) for s in route["stops"]], depot]
        km = sum(haversine_km(*a, *b) for a, b in itertools.pairwise(path)) * factor
        assert route["distance_km"] == pytest.approx(km, abs=0.01 * len(path))

    stored = await client.get(f"/cycles/{DEMO_CYCLE_ID}/routes", headers=staff)
    assert stored.status_code == 200 and stored.json()["routes"] == plan["routes"]


async def test_infeasible_requests_get_a_422_that_says_why(demo, keys):
    client, _, _ = demo
    staff = keys.headers("coordinator", account_id=DEMO_COORDINATOR_ACCOUNT)
    url = f"/cycles/{DEMO_CYCLE_ID}/routes"
    cases = [
        ({"vehicles": {"count": 2, "capacity_kg": 250}}, "fleet_capacity_exceeded"),
        ({"vehicles": {"count": 10, "capacity_kg": 100}}, "drop_exceeds_vehicle_capacity"),
        ({"vehicles": {"count": 5, "capacity_kg": 250}, "day_start": "12:30"}, "window_unreachable"),
        ({"vehicles": {"count": 1, "capacity_kg": 1000}, "day_start": "08:30", "service_minutes": 45},
         "no_feasible_plan"),
    ]
    for body, code in cases:
        r = await client.post(url, json={**body, "max_seconds": 0.5}, headers=staff)
        assert r.status_code == 422, (code, r.text)
        assert r.json()["error"]["code"] == code, r.text
        assert r.json()["error"]["message"]
    missing = await client.get("/cycles/424242/routes", headers=keys.headers("admin"))
    assert missing.status_code == 404


async def test_point_closed_on_delivery_day_is_reported(delivery, keys):
    client, db = delivery
    point = await create_point(client, keys, schedule=[{"weekday": 2, "opens": "08:00", "closes": "12:00"}])
    await apply(db, closed_cycle(point["id"]))  # delivers on a sábado
    r = await client.post("/cycles/5/routes", json={"vehicles": {"count": 1, "capacity_kg": 500}},
                          headers=coordinator(keys))
    assert r.status_code == 422 and r.json()["error"]["code"] == "point_closed_on_delivery_day"
    assert "closed on the delivery day" in r.json()["error"]["message"]


async def test_only_staff_plan_routes(demo, keys):
    client, _, _ = demo
    r = await client.post(f"/cycles/{DEMO_CYCLE_ID}/routes", json={"vehicles": FLEET},
                          headers=keys.headers("producer"))
    assert r.status_code == 403


async def test_collection_routes_pick_up_every_consignment_once_within_capacity(demo, keys):
    client, _, world = demo
    r = await client.post(f"/cycles/{DEMO_CYCLE_ID}/routes",
                          json={"vehicles": FLEET, "collection": True, "max_seconds": 1},
                          headers=keys.headers("coordinator", account_id=DEMO_COORDINATOR_ACCOUNT))
    assert r.status_code == 201, r.text
    collection = r.json()["collection"]
    delivery_date = world.calendar.closed_cycle.delivery_date
    assert collection["date"] == (delivery_date - timedelta(days=1)).isoformat()  # the day before delivery
    payload = demo_cycle_payload(world)
    collected = Counter()
    for route in collection["routes"]:
        assert route["load_kg"] <= FLEET["capacity_kg"]
        for stop in route["stops"]:
            collected.update(stop["producer_ids"])
    assert collected == Counter(c["producer_id"] for c in payload["consignments"])
    assert collection["total_load_kg"] == pytest.approx(r.json()["total_load_kg"], abs=0.001)
    assert collection["without_pickup_place"] == []
