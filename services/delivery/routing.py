"""Route planning for a closed cycle, solved with PyVRP (a maintained hybrid genetic search solver).

Model (hub-based delivery): producers bring their consolidated loads to the hub (the depot); the
planner builds the delivery routes from the hub to the delivery points. Each point with
consignments in the cycle is one stop whose load is the kilograms of all its consignments; vehicles
are identical (count, capacity in kg), leave the hub no earlier than the day's start, and must
reach each point inside one of its opening windows on the delivery day with time to unload before
it closes. The objective is the total distance driven.

PyVRP works in integers: distances in metres, durations in seconds (since local midnight), loads
in grams. The distance matrix comes from a `DistanceProvider`: haversine × a road factor by
default, or a routing engine's table service (OSRM) when its URL is configured.
"""

import asyncio
import functools
import itertools
import math
import warnings
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Protocol

import httpx

from services.common.errors import InvalidInput, ServiceUnavailable
from services.delivery.points import haversine_km, windows_on

if TYPE_CHECKING:
    import pyvrp

DAY_END = 24 * 3600


@functools.cache
def _pyvrp():
    """PyVRP, loaded by the first route plan: it and numpy weigh some 15 MB that a delivery process
    serving bookings and pickups never needs."""
    import pyvrp
    from pyvrp.exceptions import PenaltyBoundWarning

    # PyVRP warns when it struggles to find a feasible solution; the planner reports that itself (422).
    warnings.filterwarnings("ignore", category=PenaltyBoundWarning)
    return pyvrp


class RoutePlanningInfeasible(InvalidInput):
    code = "route_plan_infeasible"


# --- distance providers ---

class DistanceProvider(Protocol):
    name: str

    async def matrix(self, places: list[tuple[float, float]]) -> tuple[list[list[int]], list[list[int]]]:
        """(metres, seconds) between every pair of (lat, lon) places."""


@dataclass
class HaversineProvider:
    """Straight-line distance × road factor, driven at an average speed."""

    road_factor: float = 1.35
    speed_kmh: float = 25.0
    name: str = "haversine"

    async def matrix(self, places):
        return self.matrix_now(places)

    def matrix_now(self, places: list[tuple[float, float]]) -> tuple[list[list[int]], list[list[int]]]:
        metres = [[round(haversine_km(a[0], a[1], b[0], b[1]) * 1000 * self.road_factor) for b in places]
                  for a in places]
        per_metre = 3.6 / self.speed_kmh
        seconds = [[round(m * per_metre) for m in row] for row in metres]
        return metres, seconds


@dataclass
class OsrmProvider:
    """OSRM's table service: `GET {url}/table/v1/driving/{lon,lat;...}?annotations=distance,duration`."""

    url: str
    timeout: float = 10.0
    profile: str = "driving"
    name: str = "osrm"
    transport: httpx.AsyncBaseTransport | None = None  # tests pass a mock

    async def matrix(self, places):
        coords = ";".join(f"{lon:.6f},{lat:.6f}" for lat, lon in places)
        try:
            async with httpx.AsyncClient(timeout=self.timeout, transport=self.transport) as client:
                r = await client.get(f"{self.url.rstrip('/')}/table/v1/{self.profile}/{coords}",
                                     params={"annotations": "distance,duration"})
            body = r.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ServiceUnavailable(f"the routing engine did not answer: {type(exc).__name__}",
                                     code="routing_engine_unavailable") from None
        if r.status_code != 200 or body.get("code") != "Ok":
            raise ServiceUnavailable(f"the routing engine refused the table request: {body.get('code')}",
                                     code="routing_engine_unavailable")
        unreachable = [(i, j) for i, row in enumerate(body["distances"]) for j, v in enumerate(row) if v is None]
        if unreachable:
            raise RoutePlanningInfeasible("the routing engine finds no road between some places",
                                          details={"pairs": unreachable[:10]})
        metres = [[round(v) for v in row] for row in body["distances"]]
        seconds = [[round(v) for v in row] for row in body["durations"]]
        return metres, seconds


def distance_provider(*, osrm_url: str, road_factor: float, speed_kmh: float) -> DistanceProvider:
    if osrm_url:
        return OsrmProvider(url=osrm_url)
    return HaversineProvider(road_factor=road_factor, speed_kmh=speed_kmh)


# --- the problem and its solution ---

@dataclass
class Drop:
    point_id: int
    name: str
    lat: float
    lon: float
    load_g: int
    windows: list[tuple[int, int]]  # (opens, closes) in seconds since local midnight, earliest first


@dataclass
class Problem:
    depot: tuple[float, float]
    drops: list[Drop]
    vehicles: int
    capacity_g: int
    day_start: int
    service_seconds: int
    distances: list[list[int]] = field(default_factory=list)  # index 0 = depot, i = drops[i - 1]
    durations: list[list[int]] = field(default_factory=list)


@dataclass
class Stop:
    drop: Drop
    arrival: int
    window: tuple[int, int]
    distance_from_previous: int


@dataclass
class Route:
    stops: list[Stop]
    load_g: int
    distance: int
    departure: int
    return_time: int


def hhmm(seconds: int) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def seconds_of(hhmm_text: str) -> int:
    hours, minutes = hhmm_text.split(":")
    return int(hours) * 3600 + int(minutes) * 60


def windows_on_day(schedule: list[dict], day: date) -> list[tuple[int, int]]:
    return [(seconds_of(w["opens"]), seconds_of(w["closes"])) for w in windows_on(schedule, day.weekday())]


def check_feasibility(problem: Problem) -> dict[int, tuple[int, int]]:
    """Refuse, with the reason, what no plan can satisfy; returns the window chosen per point:
    the earliest one a vehicle can reach from the hub and still unload before it closes."""
    if not problem.drops:
        raise RoutePlanningInfeasible("the cycle has no consignments to deliver", code="nothing_to_plan")
    heaviest = max(problem.drops, key=lambda d: d.load_g)
    if heaviest.load_g > problem.capacity_g:
        raise RoutePlanningInfeasible(
            f"the load for {heaviest.name} ({heaviest.load_g / 1000:g} kg) is more than one vehicle carries "
            f"({problem.capacity_g / 1000:g} kg); use bigger vehicles or split the point's consignments",
            code="drop_exceeds_vehicle_capacity",
            details={"point_id": heaviest.point_id, "load_kg": heaviest.load_g / 1000,
                     "capacity_kg": problem.capacity_g / 1000})
    total = sum(d.load_g for d in problem.drops)
    fleet = problem.vehicles * problem.capacity_g
    if total > fleet:
        raise RoutePlanningInfeasible(
            f"the cycle's loads ({total / 1000:g} kg) are more than the fleet carries in one trip each "
            f"({problem.vehicles} × {problem.capacity_g / 1000:g} kg); add vehicles or capacity",
            code="fleet_capacity_exceeded",
            details={"total_load_kg": total / 1000, "fleet_capacity_kg": fleet / 1000})
    chosen = {}
    for index, drop in enumerate(problem.drops, start=1):
        if not drop.windows:
            raise RoutePlanningInfeasible(
                f"{drop.name} is closed on the delivery day; open it that day or move its orders",
                code="point_closed_on_delivery_day", details={"point_id": drop.point_id})
        earliest = problem.day_start + problem.durations[0][index]
        window = next(((o, c) for o, c in drop.windows if max(o, earliest) + problem.service_seconds <= c), None)
        if window is None:
            raise RoutePlanningInfeasible(
                f"no vehicle can reach {drop.name} in time: leaving the hub at {hhmm(problem.day_start)} it "
                f"arrives at {hhmm(earliest)}, and its windows are "
                + ", ".join(f"{hhmm(o)}–{hhmm(c)}" for o, c in drop.windows),
                code="window_unreachable", details={"point_id": drop.point_id, "earliest_arrival": hhmm(earliest)})
        chosen[drop.point_id] = window
    return chosen


def build_model(problem: Problem, windows: dict[int, tuple[int, int]]) -> "pyvrp.Model":
    model = _pyvrp().Model()
    # coordinates are only for PyVRP's own plots; the edges below carry the real distances
    depot_location = model.add_location(x=round(problem.depot[1] * 1e5), y=round(problem.depot[0] * 1e5))
    depot = model.add_depot(depot_location, tw_early=problem.day_start, tw_late=DAY_END, name="hub")
    model.add_vehicle_type(num_available=problem.vehicles, capacity=[problem.capacity_g], start_depot=depot,
                           end_depot=depot, tw_early=problem.day_start, tw_late=DAY_END)
    locations = [depot_location]
    for drop in problem.drops:
        location = model.add_location(x=round(drop.lon * 1e5), y=round(drop.lat * 1e5))
        opens, closes = windows[drop.point_id]
        model.add_client(location, delivery=[drop.load_g], service_duration=problem.service_seconds,
                         tw_early=opens, tw_late=closes - problem.service_seconds, name=str(drop.point_id))
        locations.append(location)
    for i, frm in enumerate(locations):
        for j, to in enumerate(locations):
            model.add_edge(frm, to, distance=problem.distances[i][j], duration=problem.durations[i][j])
    return model


def solve(problem: Problem, *, max_seconds: float, seed: int = 1, no_improvement: int | None = 20_000,
          ) -> tuple[list[Route], dict[int, tuple[int, int]]]:
    """Solve with PyVRP; raises `RoutePlanningInfeasible` with the reason when no plan exists."""
    windows = check_feasibility(problem)
    model = build_model(problem, windows)
    from pyvrp.stop import MaxRuntime, MultipleCriteria, NoImprovement

    stop = MaxRuntime(max_seconds) if no_improvement is None else \
        MultipleCriteria([MaxRuntime(max_seconds), NoImprovement(no_improvement)])
    result = model.solve(stop=stop, seed=seed, display=False, collect_stats=False)
    best = result.best
    if not best.is_feasible() or not best.is_complete():
        reason = []
        if best.time_warp():
            reason.append("the opening windows cannot all be met")
        if any(best.excess_load()):
            reason.append("the loads do not fit the vehicles")
        if not best.is_complete():
            reason.append("some points could not be served")
        raise RoutePlanningInfeasible(
            f"no feasible plan with {problem.vehicles} vehicle(s) of {problem.capacity_g / 1000:g} kg: "
            + ("; ".join(reason) or "constraints conflict")
            + "; add vehicles, start earlier, or widen the windows", code="no_feasible_plan")
    return routes_of(problem, best, windows), windows


def routes_of(problem: Problem, solution, windows) -> list[Route]:
    routes = []
    for route in solution.routes():
        stops, previous = [], 0
        for activity in route.schedule():
            if not activity.is_client():
                continue
            drop = problem.drops[activity.idx]
            here = activity.idx + 1
            stops.append(Stop(drop=drop, arrival=activity.start_time, window=windows[drop.point_id],
                              distance_from_previous=problem.distances[previous][here]))
            previous = here
        if stops:
            routes.append(Route(stops=stops, load_g=sum(s.drop.load_g for s in stops), distance=route.distance(),
                                departure=route.start_time(), return_time=route.end_time()))
    return routes


def route_distance(problem: Problem, order: list[int]) -> int:
    """Metres driven hub -> drops (1-based indices) -> hub."""
    path = [0, *order, 0]
    return sum(problem.distances[a][b] for a, b in itertools.pairwise(path))


async def solve_async(problem: Problem, *, max_seconds: float, seed: int = 1):
    """Solving is CPU work: run it off the event loop."""
    return await asyncio.to_thread(solve, problem, max_seconds=max_seconds, seed=seed)


def grams(kg) -> int:
    return math.ceil(float(kg) * 1000)
