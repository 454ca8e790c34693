"""Plan and store the delivery routes of a closed cycle (the solver itself is in routing.py)."""

from collections import defaultdict
from datetime import date
from decimal import Decimal

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import NotFound
from services.common.tables import utcnow
from services.delivery import routing
from services.delivery.models import Consignment, ConsignmentLine, Cycle, DeliveryPoint, RoutePlan
from services.delivery.schemas import RoutePlanRequest
from services.delivery.settings import Settings


async def get_cycle(*, session: AsyncSession, cycle_id: int) -> Cycle:
    cycle = await session.get(Cycle, cycle_id)
    if cycle is None:
        raise NotFound(f"cycle {cycle_id} is not closed yet (delivery learns of a cycle when it closes)",
                       code="cycle_not_found", details={"cycle_id": cycle_id})
    return cycle


async def loads_by_point(*, session: AsyncSession, cycle_id: int) -> dict[int, Decimal]:
    """Kilograms to drop at each delivery point: every consignment line of the cycle that has a weight."""
    rows = (await session.execute(
        select(Consignment.delivery_point_id, ConsignmentLine.kg)
        .join(ConsignmentLine, ConsignmentLine.consignment_id == Consignment.id)
        .where(Consignment.cycle_id == cycle_id))).all()
    loads: dict[int, Decimal] = defaultdict(Decimal)
    for point_id, kg in rows:
        loads[point_id] += Decimal(kg or 0)
    return dict(loads)


async def pickup_sites(*, session: AsyncSession, cycle_id: int) -> tuple[list[dict], list[int]]:
    """Where loads are collected: consignments grouped by pickup place (producers of one organization
    usually share its collection point), with their kilograms; and consignments without a place."""
    rows = (await session.execute(
        select(Consignment.id, Consignment.producer_id, Consignment.producer_name, Consignment.pickup_lat,
               Consignment.pickup_lon, ConsignmentLine.kg)
        .join(ConsignmentLine, ConsignmentLine.consignment_id == Consignment.id)
        .where(Consignment.cycle_id == cycle_id).order_by(Consignment.id))).all()
    sites: dict[tuple[float, float], dict] = {}
    without = []
    for cid, producer_id, producer_name, lat, lon, kg in rows:
        if lat is None or lon is None:
            if cid not in without:
                without.append(cid)
            continue
        site = sites.setdefault((round(lat, 5), round(lon, 5)), {
            "lat": lat, "lon": lon, "producers": {}, "consignments": [], "kg": Decimal(0)})
        site["producers"].setdefault(producer_id, producer_name)
        if cid not in site["consignments"]:
            site["consignments"].append(cid)
        site["kg"] += Decimal(kg or 0)
    return list(sites.values()), without


async def plan_collection(*, session: AsyncSession, cycle: Cycle, depot: tuple[float, float],
                          problem: routing.Problem, provider, max_seconds: float) -> dict:
    """Collection routes the day before delivery: hub -> pickup places -> hub, same fleet, no windows.
    A vehicle collecting loads up to its capacity is the mirror of one delivering them, so the same
    capacitated model solves it (pickup sites are its stops, open all day)."""
    sites, without = await pickup_sites(session=session, cycle_id=cycle.id)
    stops = [routing.Drop(point_id=i, name=", ".join(sorted(s["producers"].values()))[:200] or f"recojo {i}",
                          lat=s["lat"], lon=s["lon"], load_g=routing.grams(s["kg"]),
                          windows=[(problem.day_start, routing.DAY_END)])
             for i, s in enumerate(sites, start=1)]
    routes: list[routing.Route] = []
    if stops:
        distances, durations = await provider.matrix([depot, *[(d.lat, d.lon) for d in stops]])
        collection = routing.Problem(depot=depot, drops=stops, vehicles=problem.vehicles,
                                     capacity_g=problem.capacity_g, day_start=problem.day_start,
                                     service_seconds=problem.service_seconds, distances=distances,
                                     durations=durations)
        try:
            routes, _ = await routing.solve_async(collection, max_seconds=max_seconds)
        except routing.RoutePlanningInfeasible as exc:
            raise routing.RoutePlanningInfeasible(f"collection routes: {exc.message}",
                                                  code=f"collection_{exc.code}", details=exc.details) from None
    by_index = dict(enumerate(sites, start=1))
    return {
        "date": date.fromordinal(cycle.delivery_date.toordinal() - 1).isoformat(),
        "routes": [{
            "vehicle": n,
            "stops": [{"sequence": i, "lat": s.drop.lat, "lon": s.drop.lon,
                       "producer_ids": sorted(by_index[s.drop.point_id]["producers"]),
                       "consignment_ids": by_index[s.drop.point_id]["consignments"], "name": s.drop.name,
                       "load_kg": s.drop.load_g / 1000, "arrival": routing.hhmm(s.arrival),
                       "distance_from_previous_km": round(s.distance_from_previous / 1000, 3)}
                      for i, s in enumerate(r.stops, start=1)],
            "load_kg": r.load_g / 1000, "capacity_kg": problem.capacity_g / 1000,
            "distance_km": round(r.distance / 1000, 3), "departure": routing.hhmm(r.departure),
            "return_time": routing.hhmm(r.return_time)} for n, r in enumerate(routes, start=1)],
        "total_distance_km": round(sum(r.distance for r in routes) / 1000, 3),
        "total_load_kg": sum(r.load_g for r in routes) / 1000,
        "without_pickup_place": without,
    }


async def plan_cycle(*, session: AsyncSession, cycle_id: int, request: RoutePlanRequest, settings: Settings,
                     created_by: int | None) -> RoutePlan:
    cycle = await get_cycle(session=session, cycle_id=cycle_id)
    loads = await loads_by_point(session=session, cycle_id=cycle_id)
    points = {p.id: p for p in (await session.execute(
        select(DeliveryPoint).where(DeliveryPoint.id.in_(list(loads) or [-1])))).scalars()}
    missing = sorted(set(loads) - set(points))
    if missing:
        raise routing.RoutePlanningInfeasible(
            f"consignments go to delivery points this service does not know: {missing}",
            code="unknown_delivery_point", details={"point_ids": missing})
    depot = (request.depot.lat, request.depot.lon) if request.depot else (settings.depot_lat, settings.depot_lon)
    drops = [routing.Drop(point_id=pid, name=points[pid].name, lat=points[pid].lat, lon=points[pid].lon,
                          load_g=routing.grams(load),
                          windows=routing.windows_on_day(points[pid].schedule or [], cycle.delivery_date))
             for pid, load in sorted(loads.items())]
    speed = request.average_speed_kmh or settings.average_speed_kmh
    provider = routing.distance_provider(osrm_url=settings.osrm_url, road_factor=settings.road_factor,
                                         speed_kmh=speed)
    places = [depot, *[(d.lat, d.lon) for d in drops]]
    distances, durations = await provider.matrix(places) if drops else ([[0]], [[0]])
    problem = routing.Problem(
        depot=depot, drops=drops, vehicles=request.vehicles.count,
        capacity_g=routing.grams(request.vehicles.capacity_kg),
        day_start=routing.seconds_of(request.day_start or settings.day_start),
        service_seconds=60 * (request.service_minutes if request.service_minutes is not None
                              else settings.service_minutes),
        distances=distances, durations=durations)
    max_seconds = request.max_seconds or settings.solver_seconds
    routes, _ = await routing.solve_async(problem, max_seconds=max_seconds)
    collection = None
    if request.collection:
        collection = await plan_collection(session=session, cycle=cycle, depot=depot, problem=problem,
                                           provider=provider, max_seconds=max_seconds)
    plan = {
        "cycle_id": cycle_id, "delivery_date": cycle.delivery_date.isoformat(),
        "model": "hub-based delivery: producers bring loads to the hub; routes hub → delivery points → hub",
        "depot": {"lat": depot[0], "lon": depot[1]}, "distance_provider": provider.name,
        "routes": [_route_json(i, r, problem.capacity_g) for i, r in enumerate(routes, start=1)],
        "total_distance_km": round(sum(r.distance for r in routes) / 1000, 3),
        "total_load_kg": sum(r.load_g for r in routes) / 1000,
        "collection": collection,
    }
    await session.execute(delete(RoutePlan).where(RoutePlan.cycle_id == cycle_id))
    stored = RoutePlan(cycle_id=cycle_id, created_at=utcnow(), created_by=created_by,
                       request=request.model_dump(mode="json"), plan=plan)
    session.add(stored)
    await session.flush()
    return stored


def _route_json(number: int, route: routing.Route, capacity_g: int) -> dict:
    return {
        "vehicle": number,
        "stops": [{"sequence": i, "point_id": s.drop.point_id, "point_name": s.drop.name,
                   "load_kg": s.drop.load_g / 1000, "arrival": routing.hhmm(s.arrival),
                   "window": f"{routing.hhmm(s.window[0])}–{routing.hhmm(s.window[1])}",
                   "distance_from_previous_km": round(s.distance_from_previous / 1000, 3)}
                  for i, s in enumerate(route.stops, start=1)],
        "load_kg": route.load_g / 1000, "capacity_kg": capacity_g / 1000,
        "distance_km": round(route.distance / 1000, 3),
        "departure": routing.hhmm(route.departure), "return_time": routing.hhmm(route.return_time),
    }


async def get_plan(*, session: AsyncSession, cycle_id: int) -> RoutePlan:
    plan = await session.get(RoutePlan, cycle_id)
    if plan is None:
        raise NotFound(f"cycle {cycle_id} has no route plan yet; POST /cycles/{cycle_id}/routes makes one",
                       code="route_plan_not_found", details={"cycle_id": cycle_id})
    return plan
