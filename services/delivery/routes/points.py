"""Delivery points: public reading and nearest-point search; coordinators register points, the
registering coordinator (or an admin) edits and retires them (services/delivery/access.py)."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from services.common.app import Session
from services.common.auth import Principal, Role, require_roles
from services.common.errors import InvalidInput, NotFound
from services.common.pagination import Page, PageParams, encode_cursor, page_params
from services.delivery import access, bookings, points
from services.delivery.models import Cycle, DeliveryPoint, kernel
from services.delivery.schemas import MAX_ID, Availability, PointCreate, PointKind, PointOut, PointUpdate

router = APIRouter(tags=["points"])
Staff = Annotated[Principal, Depends(require_roles(Role.coordinator))]
PointId = Annotated[int, Path(ge=1, le=MAX_ID)]


def point_out(point: DeliveryPoint, distance_km: float | None = None) -> PointOut:
    data = {c: getattr(point, c) for c in PointOut.model_fields if c != "distance_km"}
    return PointOut(**data, distance_km=None if distance_km is None else round(distance_km, 3))


@router.get("/points", response_model=Page[PointOut], summary="List delivery points, or the nearest ones")
async def list_points(
    session: Session,
    page: Annotated[PageParams, Depends(page_params)],
    near: Annotated[str | None, Query(max_length=64, description="lat,lon: nearest first, with distance_km",
                                      examples=["-16.5,-68.15"])] = None,
    radius_km: Annotated[float, Query(gt=0, le=points.MAX_RADIUS_KM)] = points.DEFAULT_RADIUS_KM,
    municipality: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
    kind: PointKind | None = None,
    active: bool | None = True,
    open_on: Annotated[date | None, Query(description="only points open on this date (the delivery day)")] = None,
    weekday: Annotated[int | None, Query(ge=0, le=6, description="only points open on this weekday, 0 = lunes")] = None,
    cycle_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="only points open on the cycle's delivery day")] = None,
):
    day = weekday
    if open_on is not None:
        day = open_on.weekday()
    if cycle_id is not None:
        cycle = await session.get(Cycle, cycle_id)
        if cycle is None:
            raise NotFound(f"cycle {cycle_id} has no delivery date here yet (it is known once the cycle closes); "
                           "filter with open_on=YYYY-MM-DD instead", code="cycle_not_found")
        day = cycle.delivery_date.weekday()
    if day is not None and weekday is not None and day != weekday:
        raise InvalidInput("weekday disagrees with open_on/cycle_id; give only one", code="invalid_filter")
    filters = points.PointFilter(municipality_code=municipality, kind=kind.value if kind else None,
                                 active=active, weekday=day)
    if near is not None:
        lat, lon = points.parse_near(near)
        found, key = await points.nearest_points(session=session, lat=lat, lon=lon, radius_km=radius_km,
                                                 filters=filters, limit=page.limit, cursor=page.cursor)
        items = [point_out(p, d) for p, d in found]
    else:
        rows, key = await points.list_points(session=session, filters=filters, limit=page.limit,
                                             cursor=page.cursor)
        items = [point_out(p) for p in rows]
    return Page[PointOut](items=items, next_cursor=encode_cursor(key) if key else None)


@router.post("/points", response_model=PointOut, status_code=201, summary="Create a delivery point")
async def create_point(body: PointCreate, session: Session, principal: Staff):
    return point_out(await points.create_point(session=session, data=body, registered_by=principal.account_id))


@router.get("/points/{point_id}", response_model=PointOut, summary="One delivery point")
async def get_point(point_id: PointId, session: Session):
    return point_out(await points.get_point(session=session, point_id=point_id))


@router.patch("/points/{point_id}", response_model=PointOut, summary="Edit a delivery point")
async def update_point(point_id: PointId, body: PointUpdate, session: Session, principal: Staff):
    """A changed `max_orders_per_cycle` reaches the open cycles that use the point without a capacity
    of their own: a raise promotes their waiting orders at once."""
    access.ensure_can_edit_point(principal, await points.get_point(session=session, point_id=point_id))
    point = await points.update_point(session=session, point_id=point_id, changes=body)
    if "max_orders_per_cycle" in body.model_fields_set:
        await bookings.follow_point_capacity(session=session, kernel=kernel, point=point)
    return point_out(point)


@router.get("/points/{point_id}/availability", response_model=Availability, summary="Slots left in a cycle")
async def availability(point_id: PointId, session: Session,
                       cycle_id: Annotated[int, Query(ge=1, le=MAX_ID)]):
    return await bookings.availability(session=session, point_id=point_id, cycle_id=cycle_id)


@router.delete("/points/{point_id}", status_code=204, response_class=Response, summary="Retire a delivery point (kept, made inactive)")
async def retire_point(point_id: PointId, session: Session, principal: Staff):
    """Bookings and consignments keep referring to a retired point, so it is deactivated, not erased."""
    access.ensure_can_edit_point(principal, await points.get_point(session=session, point_id=point_id))
    await points.update_point(session=session, point_id=point_id, changes=PointUpdate(active=False))
