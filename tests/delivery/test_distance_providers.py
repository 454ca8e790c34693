"""Distance providers: haversine × road factor by default, OSRM's table service when configured."""

import httpx
import pytest

from services.common.errors import ServiceUnavailable
from services.delivery.points import haversine_km
from services.delivery.routing import (
    HaversineProvider,
    OsrmProvider,
    RoutePlanningInfeasible,
    distance_provider,
)

PLACES = [(-16.5047, -68.1633), (-16.4990, -68.1309), (-16.5410, -68.0780)]


async def test_default_matrix_is_haversine_times_road_factor_at_average_speed():
    provider = distance_provider(osrm_url="", road_factor=1.4, speed_kmh=20)
    assert isinstance(provider, HaversineProvider)
    metres, seconds = await provider.matrix(PLACES)
    expected = haversine_km(*PLACES[0], *PLACES[2]) * 1000 * 1.4
    assert metres[0][2] == round(expected) and metres[2][0] == metres[0][2] and metres[1][1] == 0
    assert seconds[0][2] == round(metres[0][2] * 3.6 / 20)


async def test_osrm_table_answer_becomes_integer_matrices():
    asked = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request.url)
        return httpx.Response(200, json={"code": "Ok",
                                         "distances": [[0, 4100.4, 12000], [4000, 0, 9000.6], [11900, 9100, 0]],
                                         "durations": [[0, 420.2, 1200], [400, 0, 900], [1190, 910, 0]]})

    provider = OsrmProvider(url="http://osrm.local:5000/", transport=httpx.MockTransport(answer))
    metres, seconds = await provider.matrix(PLACES)
    assert metres[0][1] == 4100 and metres[1][2] == 9001 and seconds[0][1] == 420
    url = asked[0]
    assert url.path == "/table/v1/driving/-68.163300,-16.504700;-68.130900,-16.499000;-68.078000,-16.541000"
    assert url.params["annotations"] == "distance,duration"
    assert isinstance(distance_provider(osrm_url="http://x", road_factor=1.3, speed_kmh=25), OsrmProvider)


async def test_osrm_down_is_a_503_and_no_road_is_a_422():
    def down(request):
        raise httpx.ConnectError("refused")

    with pytest.raises(ServiceUnavailable):
        await OsrmProvider(url="http://osrm.local", transport=httpx.MockTransport(down)).matrix(PLACES)

    def no_road(request):
        return httpx.Response(200, json={"code": "Ok", "distances": [[0, None, 1], [1, 0, 1], [1, 1, 0]],
                                         "durations": [[0, None, 1], [1, 0, 1], [1, 1, 0]]})

    with pytest.raises(RoutePlanningInfeasible):
        await OsrmProvider(url="http://osrm.local", transport=httpx.MockTransport(no_road)).matrix(PLACES)
