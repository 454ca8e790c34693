"""Nearest-point search returns points in true distance order, with their distances."""

import math

import pytest

from tests.delivery.conftest import create_point

# Known places of La Paz and El Alto (lat, lon)
PLACES = {
    "Plaza Murillo": (-16.4955, -68.1336),
    "Mercado Rodríguez": (-16.4987, -68.1425),
    "Plaza Avaroa (Sopocachi)": (-16.5106, -68.1258),
    "Feria 16 de Julio (El Alto)": (-16.4932, -68.1814),
    "Ciudad Satélite (El Alto)": (-16.5245, -68.1585),
    "Calacoto": (-16.5410, -68.0780),
    "Achumani": (-16.5300, -68.0720),
    "Aeropuerto de El Alto": (-16.5133, -68.1923),
}
ORIGIN = (-16.5000, -68.1500)  # San Pedro, La Paz


def law_of_cosines_km(a, b) -> float:
    """Spherical law of cosines: an independent formula for the great-circle distance."""
    p1, p2 = math.radians(a[0]), math.radians(b[0])
    dl = math.radians(b[1] - a[1])
    c = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)
    return 6371.0088 * math.acos(max(-1.0, min(1.0, c)))


@pytest.fixture
async def places(delivery, keys):
    client, _ = delivery
    ids = {}
    for name, (lat, lon) in PLACES.items():
        ids[(await create_point(client, keys, name=name, lat=lat, lon=lon,
                                schedule=[{"weekday": 5 if "El Alto" not in name else 6,
                                           "opens": "08:00", "closes": "12:00"}]))["id"]] = name
    return client, ids


async def test_nearest_points_come_in_true_distance_order_with_distances(places):
    client, _ = places
    r = await client.get("/points", params={"near": f"{ORIGIN[0]},{ORIGIN[1]}", "radius_km": 50})
    assert r.status_code == 200
    items = r.json()["items"]
    expected = sorted(PLACES, key=lambda n: law_of_cosines_km(ORIGIN, PLACES[n]))
    assert [p["name"] for p in items] == expected
    for p in items:
        assert p["distance_km"] == pytest.approx(law_of_cosines_km(ORIGIN, PLACES[p["name"]]), abs=0.002)
    assert items[0]["name"] == "Mercado Rodríguez" and items[0]["distance_km"] < 1.0


async def test_radius_cuts_far_points_and_pages_keep_the_order(places):
    client, _ = places
    radius = 5.0
    inside = sorted((n for n in PLACES if law_of_cosines_km(ORIGIN, PLACES[n]) <= radius),
                    key=lambda n: law_of_cosines_km(ORIGIN, PLACES[n]))
    seen, cursor = [], None
    while True:
        params = {"near": f"{ORIGIN[0]},{ORIGIN[1]}", "radius_km": radius, "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/points", params=params)).json()
        seen += [p["name"] for p in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == inside
    assert "Calacoto" not in seen


async def test_filter_to_points_open_on_the_delivery_day(places):
    client, _ = places
    sunday = (await client.get("/points", params={"near": f"{ORIGIN[0]},{ORIGIN[1]}", "radius_km": 50,
                                                  "open_on": "2026-11-29"})).json()["items"]
    assert {p["name"] for p in sunday} == {n for n in PLACES if "El Alto" in n}
    saturday = (await client.get("/points", params={"near": f"{ORIGIN[0]},{ORIGIN[1]}", "radius_km": 50,
                                                    "weekday": 5})).json()["items"]
    assert {p["name"] for p in saturday} == {n for n in PLACES if "El Alto" not in n}


async def test_bad_near_is_a_clear_422(places):
    client, _ = places
    for bad in ("abc", "-16.5", "-95,10", "1,2,3"):
        r = await client.get("/points", params={"near": bad})
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_near", bad
