"""Internal slot booking API used by orders (docs/internal-api.md): hold, confirm, release, move a
waiting order, points with room."""

from typing import Annotated

from fastapi import APIRouter, Path, Request

from services.common.app import Session
from services.common.auth import ServiceCaller
from services.delivery import bookings
from services.delivery.models import kernel
from services.delivery.schemas import (
    BookingMove,
    BookingOut,
    BookingRequest,
    ConfirmOut,
    OrderId,
    PointWithRoom,
    ReleaseOut,
    RoomRequest,
)

router = APIRouter(prefix="/internal", tags=["internal"])
OrderPath = Annotated[OrderId, Path()]


@router.post("/bookings", response_model=BookingOut, status_code=201,
             summary="Hold a slot (409 point_full puts the order on the waitlist)")
async def hold(body: BookingRequest, request: Request, _: ServiceCaller):
    booking = await bookings.book_slot(  # with confirm: one round trip for order placement
        db=request.app.state.db, kernel=kernel, order_id=body.order_id, point_id=body.point_id, cycle_id=body.cycle_id,
        capacity=body.capacity, consumer_account_id=body.consumer_account_id, wait_if_full=body.wait_if_full,
        confirm=body.confirm)
    return BookingOut(order_id=booking.order_id, point_id=booking.point_id, cycle_id=booking.cycle_id,
                      status=booking.status, pickup_code=booking.pickup_code)


@router.post("/bookings/{order_id}/confirm", response_model=ConfirmOut, summary="Confirm a held slot")
async def confirm(order_id: OrderPath, session: Session, _: ServiceCaller):
    booking = await bookings.confirm_booking(session=session, order_id=order_id)
    return ConfirmOut(order_id=booking.order_id, status=booking.status, pickup_code=booking.pickup_code or "")


@router.post("/bookings/{order_id}/release", response_model=ReleaseOut, summary="Free a slot (idempotent)")
async def release(order_id: OrderPath, session: Session, _: ServiceCaller):
    status = await bookings.release_booking(session=session, kernel=kernel, order_id=order_id)
    return ReleaseOut(order_id=order_id, status=status)


@router.post("/bookings/{order_id}/move", response_model=BookingOut,
             summary="Move a waiting order to another point with a free slot, confirmed there (idempotent)")
async def move(order_id: OrderPath, body: BookingMove, session: Session, _: ServiceCaller):
    booking = await bookings.move_waiting_booking(session=session, kernel=kernel, order_id=order_id,
                                                  point_id=body.point_id, cycle_id=body.cycle_id,
                                                  capacity=body.capacity)
    return BookingOut(order_id=booking.order_id, point_id=booking.point_id, cycle_id=booking.cycle_id,
                      status=booking.status, pickup_code=booking.pickup_code)


@router.post("/points/room", response_model=list[PointWithRoom],
             summary="Of the given points of a cycle, those with a free slot, nearest to a point first")
async def room(body: RoomRequest, session: Session, _: ServiceCaller):
    return await bookings.points_with_room(session=session, cycle_id=body.cycle_id,
                                           from_point_id=body.from_point_id,
                                           capacities={c.point_id: c.capacity for c in body.points},
                                           limit=body.limit)
