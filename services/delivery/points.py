"""Delivery points: create, edit, read, and find the nearest ones open on a given day.

Nearest-point search prefilters with a latitude/longitude bounding box in SQL (indexed), then
computes the exact great-circle (haversine) distance in Python, sorts and cuts at the radius.
"""

import math
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import InvalidInput, NotFound
from services.common.schedules import open_weekdays
from services.common.tables import utcnow
from services.delivery.models import DeliveryPoint
from services.delivery.schemas import PointCreate, PointUpdate

EARTH_RADIUS_KM = 6371.0088  # mean Earth radius (IUGG)
KM_PER_DEGREE_LAT = math.pi * EARTH_RADIUS_KM / 180
MAX_RADIUS_KM = 1000.0
DEFAULT_RADIUS_KM = 10.0


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km between two points given in degrees."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


@dataclass(frozen=True)
class BoundingBox:
    min_lat: float
    max_lat: float
    min_lon: float | None  # None: the box spans every longitude (near a pole or the antimeridian)
    max_lon: float | None


def bounding_box(*, lat: float, lon: float, radius_km: float) -> BoundingBox:
    """A box that surely contains every point within `radius_km` of (lat, lon)."""
    dlat = radius_km / KM_PER_DEGREE_LAT
    min_lat, max_lat = max(-90.0, lat - dlat), min(90.0, lat + dlat)
    widest = max(abs(min_lat), abs(max_lat))
    if widest >= 89.999:
        return BoundingBox(min_lat, max_lat, None, None)
    dlon = radius_km / (KM_PER_DEGREE_LAT * math.cos(math.radians(widest)))
    if lon - dlon < -180 or lon + dlon > 180:
        return BoundingBox(min_lat, max_lat, None, None)
    return BoundingBox(min_lat, max_lat, lon - dlon, lon + dlon)


def parse_near(near: str) -> tuple[float, float]:
    """`"-16.5,-68.15"` -> (lat, lon), with a clear error for anything else."""
    parts = near.split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        lat, lon = float(parts[0]), float(parts[1])
    except ValueError:
        raise InvalidInput("near must be 'lat,lon' in decimal degrees, e.g. near=-16.5,-68.15",
                           code="invalid_near") from None
    if not (-90 <= lat <= 90) or not (-180 <= lon <= 180):
        raise InvalidInput("near is out of range: latitude -90..90, longitude -180..180", code="invalid_near")
    return lat, lon


def windows_on(schedule: list[dict], weekday: int) -> list[dict]:
    """The opening windows of a schedule on a weekday (0 = lunes), earliest first."""
    return sorted((w for w in schedule if w.get("weekday") == weekday), key=lambda w: w["opens"])


def is_open_on(point: DeliveryPoint, weekday: int) -> bool:
    return weekday in open_weekdays(point.schedule or [])


async def get_point(*, session: AsyncSession, point_id: int) -> DeliveryPoint:
    point = await session.get(DeliveryPoint, point_id)
    if point is None:
        raise NotFound(f"delivery point {point_id} does not exist", code="point_not_found",
                       details={"point_id": point_id})
    return point


async def create_point(*, session: AsyncSession, data: PointCreate, point_id: int | None = None,
                       registered_by: int | None = None) -> DeliveryPoint:
    point = DeliveryPoint(id=point_id, registered_by=registered_by, **data.model_dump(mode="json"))
    session.add(point)
    await session.flush()
    return point


async def update_point(*, session: AsyncSession, point_id: int, changes: PointUpdate) -> DeliveryPoint:
    point = await get_point(session=session, point_id=point_id)
    for field, value in changes.model_dump(mode="json", exclude_unset=True).items():
        setattr(point, field, value if value is not None else "")
    point.updated_at = utcnow()
    await session.flush()
    return point


@dataclass(frozen=True)
class PointFilter:
    municipality_code: str | None = None
    kind: str | None = None
    active: bool | None = True
    weekday: int | None = None


async def list_points(*, session: AsyncSession, filters: PointFilter, limit: int,
                      cursor: list | None) -> tuple[list[DeliveryPoint], list | None]:
    """Points by id (keyset pages). Returns the page and the next cursor's key (or None)."""
    query = _filtered(select(DeliveryPoint), filters).order_by(DeliveryPoint.id)
    if cursor:
        query = query.where(DeliveryPoint.id > _cursor_int(cursor[0]))
    rows = list((await session.execute(query.limit(limit + 1 if filters.weekday is None else None))).scalars())
    if filters.weekday is not None:
        rows = [p for p in rows if is_open_on(p, filters.weekday)]
    if len(rows) > limit:
        rows = rows[:limit]
        return rows, [rows[-1].id]
    return rows, None


async def nearest_points(*, session: AsyncSession, lat: float, lon: float, radius_km: float,
                         filters: PointFilter, limit: int,
                         cursor: list | None) -> tuple[list[tuple[DeliveryPoint, float]], list | None]:
    """Points within `radius_km`, nearest first, each with its distance in km."""
    if not (0 < radius_km <= MAX_RADIUS_KM):
        raise InvalidInput(f"radius_km must be more than 0 and at most {MAX_RADIUS_KM:g}", code="invalid_radius")
    box = bounding_box(lat=lat, lon=lon, radius_km=radius_km)
    query = _filtered(select(DeliveryPoint), filters).where(
        DeliveryPoint.lat >= box.min_lat, DeliveryPoint.lat <= box.max_lat)
    if box.min_lon is not None:
        query = query.where(DeliveryPoint.lon >= box.min_lon, DeliveryPoint.lon <= box.max_lon)
    found = []
    for point in (await session.execute(query)).scalars():
        if filters.weekday is not None and not is_open_on(point, filters.weekday):
            continue
        distance = haversine_km(lat, lon, point.lat, point.lon)
        if distance <= radius_km:
            found.append((point, distance))
    found.sort(key=lambda pd: (pd[1], pd[0].id))
    if cursor:
        if len(cursor) != 2:
            raise InvalidInput("cursor is not valid; use the next_cursor of a previous page", code="invalid_cursor")
        after = (_cursor_float(cursor[0]), _cursor_int(cursor[1]))
        found = [pd for pd in found if (pd[1], pd[0].id) > after]
    if len(found) > limit:
        found = found[:limit]
        return found, [found[-1][1], found[-1][0].id]
    return found, None


def _filtered(query, filters: PointFilter):
    if filters.municipality_code:
        query = query.where(DeliveryPoint.municipality_code == filters.municipality_code)
    if filters.kind:
        query = query.where(DeliveryPoint.kind == filters.kind)
    if filters.active is not None:
        query = query.where(DeliveryPoint.active.is_(filters.active))
    return query


def _cursor_int(value) -> int:
    try:
        result = int(value)
    except (TypeError, ValueError):
        raise InvalidInput("cursor is not valid; use the next_cursor of a previous page", code="invalid_cursor") from None
    if abs(result) > 2**62:
        raise InvalidInput("cursor is not valid; use the next_cursor of a previous page", code="invalid_cursor")
    return result


def _cursor_float(value) -> float:
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise InvalidInput("cursor is not valid; use the next_cursor of a previous page", code="invalid_cursor") from None
    if math.isnan(result):
        raise InvalidInput("cursor is not valid; use the next_cursor of a previous page", code="invalid_cursor")
    return result


def weekday_of(day: date) -> int:
    return day.weekday()
