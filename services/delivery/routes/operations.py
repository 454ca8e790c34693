"""Pickup at the point, consignments and receiving, route plans, no-shows, monitoring figures.

Who may do what is decided in services/delivery/access.py; these routes only call it."""

import contextlib
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response

from services.common.app import Session
from services.common.auth import CurrentPrincipal, MonitoringCaller, Principal, Role, require_roles
from services.common.errors import Forbidden, InvalidInput, NotFound
from services.common.money import from_centavos
from services.common.pagination import Page, PageParams, encode_cursor, page_params
from services.common.tables import utcnow
from services.delivery import access, consignments, pickup, planning, receipt_photos, stats
from services.delivery.bookings import CONFIRMED, get_booking
from services.delivery.models import Consignment, ConsignmentLine, kernel
from services.delivery.schemas import (
    MAX_ID,
    ConsignmentOut,
    CorrectionRequest,
    DeliveryStats,
    NoShowOut,
    OrderId,
    PickupListItem,
    PickupOut,
    PickupRequest,
    ReceiveRequest,
    RoutePlanOut,
    RoutePlanRequest,
)

router = APIRouter()
Coordinator = Annotated[Principal, Depends(require_roles(Role.coordinator))]
ConsignmentId = Annotated[int, Path(ge=1, le=MAX_ID)]
CycleId = Annotated[int, Path(ge=1, le=MAX_ID)]
OrderPath = Annotated[OrderId, Path()]


# --- pickup ---

def orders_client(request: Request):
    return request.app.state.clients["orders"]


@router.post("/orders/{order_id}/pickup", response_model=PickupOut, tags=["pickup"],
             summary="Check the pickup code at the point and hand the order over (cycle coordinator or point staff)")
async def pick_up(order_id: OrderPath, body: PickupRequest, request: Request, session: Session,
                  principal: CurrentPrincipal):
    settings = request.app.state.settings
    booking = await get_booking(session=session, order_id=order_id)
    await access.ensure_point_duty(session=session, orders=orders_client(request), principal=principal,
                                   cycle_id=booking.cycle_id, point_id=booking.point_id)
    booking = await pickup.pick_up(session=session, kernel=kernel, order_id=order_id, pickup_code=body.pickup_code,
                                   point_id=body.point_id, staff_account_id=principal.account_id, now=utcnow(),
                                   max_failures=settings.pickup_max_failures, lock_minutes=settings.pickup_lock_minutes)
    return PickupOut(order_id=booking.order_id, point_id=booking.point_id, cycle_id=booking.cycle_id,
                     status=booking.status, picked_up_at=booking.picked_up_at)


@router.get("/pickups", response_model=list[PickupListItem], tags=["pickup"],
            summary="The pickups the caller may check: at the points she works at, or of the cycles she coordinates "
                    "(without their codes)")
async def list_pickups(session: Session, principal: CurrentPrincipal,
                       cycle_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
                       limit: Annotated[int, Query(ge=1, le=500)] = 200):
    return await pickup.list_pickups(session=session, visible=access.visible_pickups(principal), cycle_id=cycle_id,
                                     limit=limit)


@router.get("/orders/{order_id}/pickup-qr", tags=["pickup"], response_class=Response,
            responses={200: {"content": {"image/png": {}}, "description": "QR code of the pickup code"}},
            summary="The pickup code as a QR image (the order's consumer, the cycle coordinator or point staff)")
async def pickup_qr(order_id: OrderPath, session: Session, request: Request, principal: CurrentPrincipal):
    booking = await get_booking(session=session, order_id=order_id)
    if not access.may_see_own_pickup_code(principal, booking) and not await access.may_act_at_point(
            session=session, orders=orders_client(request), principal=principal, cycle_id=booking.cycle_id,
            point_id=booking.point_id):
        raise Forbidden("only the consumer who placed this order, the cycle's coordinator or the point's staff "
                        "can see its pickup code", code="not_your_order")
    if booking.status != CONFIRMED or not booking.pickup_code:
        raise NotFound(f"order {order_id} has no pickup code to show (booking {booking.status})",
                       code="pickup_code_not_available", details={"status": booking.status})
    return Response(pickup.qr_png(booking.pickup_code), media_type="image/png",
                    headers={"Cache-Control": "private, no-store"})


@router.post("/cycles/{cycle_id}/no-shows", response_model=NoShowOut, tags=["pickup"],
             summary="Mark confirmed orders whose pickup window is over as no-shows (coordinator: the cycle; "
                     "staff: their points)")
async def no_shows(cycle_id: CycleId, session: Session, request: Request, principal: CurrentPrincipal):
    points = await access.no_show_points(session=session, orders=orders_client(request), principal=principal,
                                         cycle_id=cycle_id)
    marked = await pickup.mark_no_shows(session=session, kernel=kernel, now=utcnow(), cycle_id=cycle_id,
                                        point_ids=points)
    return NoShowOut(cycle_id=cycle_id, no_shows=marked)


# --- consignments ---

def consignment_out(consignment: Consignment, lines: list[ConsignmentLine], has_photo: bool = False) -> ConsignmentOut:
    def money(centavos):
        return None if centavos is None else from_centavos(centavos)

    return ConsignmentOut(
        id=consignment.id, cycle_id=consignment.cycle_id, producer_id=consignment.producer_id,
        producer_name=consignment.producer_name, organization_id=consignment.organization_id,
        delivery_point_id=consignment.delivery_point_id, status=consignment.status,
        accepted_value=money(consignment.accepted_value_centavos), received_at=consignment.received_at,
        lines=[{"product_id": ln.product_id, "product_name": ln.product_name, "unit": ln.unit,
                "ordered_quantity": ln.quantity, "unit_price": from_centavos(ln.unit_price_centavos), "kg": ln.kg,
                "received_quantity": ln.received_quantity, "rejected_quantity": ln.rejected_quantity,
                "reject_reason": ln.reject_reason, "accepted_value": money(ln.accepted_value_centavos)}
               for ln in lines], has_photo=has_photo)


@router.get("/consignments", response_model=Page[ConsignmentOut], tags=["consignments"],
            summary="Consignments of a cycle, point or producer that the caller may see (coordinator of the cycle, "
                    "point staff, the producer, her organization)")
async def list_consignments(
    session: Session, principal: CurrentPrincipal, request: Request,
    page: Annotated[PageParams, Depends(page_params)],
    cycle_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    point_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    producer_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    status: Annotated[Literal["pending", "received"] | None, Query(
        description="Only those still to be received (the pick list) or those received")] = None,
    sort: Annotated[Literal["oldest", "newest"], Query(
        description="Oldest first (the default), or newest first: the latest deliveries")] = "oldest",
):
    producer_id = consignments.readable_producer(principal=principal, producer_id=producer_id)
    after = None
    if page.cursor:
        try:
            after = int(page.cursor[0])
        except (TypeError, ValueError):
            after = None
        if after is None or not (0 <= after <= MAX_ID):
            raise InvalidInput("cursor is not valid; use the next_cursor of a previous page", code="invalid_cursor")
    if cycle_id is not None and principal.role == Role.coordinator:
        # consignments of cycles closed before delivery recorded owners: learn this one's now
        with contextlib.suppress(NotFound):
            await access.cycle_owner(session=session, orders=orders_client(request), cycle_id=cycle_id)
    found = await consignments.list_consignments(session=session, cycle_id=cycle_id, point_id=point_id,
                                                 producer_id=producer_id, limit=page.limit, after_id=after,
                                                 visible=access.visible_consignments(principal),
                                                 status=status, newest_first=sort == "newest")
    next_cursor = None
    if len(found) > page.limit:
        found = found[:page.limit]
        next_cursor = encode_cursor([found[-1][0].id])
    photographed = await receipt_photos.with_photo(session, [c.id for c, _ in found])
    return Page[ConsignmentOut](items=[consignment_out(c, lines, c.id in photographed) for c, lines in found],
                                next_cursor=next_cursor)


@router.get("/consignments/{consignment_id}", response_model=ConsignmentOut, tags=["consignments"],
            summary="One consignment with its lines")
async def get_consignment(consignment_id: ConsignmentId, session: Session, request: Request,
                          principal: CurrentPrincipal):
    consignment, lines = await consignments.get_consignment(session=session, consignment_id=consignment_id)
    await access.ensure_can_read_consignment(session=session, orders=orders_client(request), principal=principal,
                                             consignment=consignment)
    return consignment_out(consignment, lines, bool(await receipt_photos.with_photo(session, [consignment_id])))


@router.get("/consignments/{consignment_id}/photo", tags=["consignments"], response_class=Response,
            summary="The photo taken when the consignment was received (JPEG), for those who may read it")
async def consignment_photo(consignment_id: ConsignmentId, session: Session, request: Request,
                            principal: CurrentPrincipal):
    consignment, _ = await consignments.get_consignment(session=session, consignment_id=consignment_id)
    await access.ensure_can_read_consignment(session=session, orders=orders_client(request), principal=principal,
                                             consignment=consignment)
    photo = await receipt_photos.read(session, consignment_id)
    return Response(photo.data, media_type=photo.content_type, headers={"Cache-Control": "private, max-age=3600"})


def received_lines(body) -> list[consignments.ReceivedLine]:
    return [consignments.ReceivedLine(product_id=ln.product_id, received_quantity=ln.received_quantity,
                                      rejected_quantity=ln.rejected_quantity, reject_reason=ln.reject_reason)
            for ln in body.lines]


@router.post("/consignments/{consignment_id}/receive", response_model=ConsignmentOut, tags=["consignments"],
             summary="Record what arrived: variable weight, shortages, rejects with a reason (cycle coordinator or "
                     "point staff; at most the ordered quantity plus the receiving margin)")
async def receive(consignment_id: ConsignmentId, body: ReceiveRequest, session: Session, request: Request,
                  principal: CurrentPrincipal):
    found, _ = await consignments.get_consignment(session=session, consignment_id=consignment_id)
    await access.ensure_can_receive(session=session, orders=orders_client(request), principal=principal,
                                    consignment=found)
    photo = receipt_photos.cleaned(body.photo) if body.photo else None  # refused before anything is recorded
    consignment, stored = await consignments.receive_consignment(
        session=session, kernel=kernel, consignment_id=consignment_id, lines=received_lines(body),
        received_by=principal.account_id, margin_percent=request.app.state.settings.receive_margin_percent)
    if photo is not None:
        receipt_photos.keep(session, consignment_id=consignment_id, data=photo, taken_by=principal.account_id)
    return consignment_out(consignment, stored, photo is not None)


@router.post("/consignments/{consignment_id}/corrections", response_model=ConsignmentOut, tags=["consignments"],
             summary="Correct a receipt (the cycle's coordinator): the old one is reversed and the new one posted; "
                     "refused once an advance was drawn on the producer's receivable")
async def correct(consignment_id: ConsignmentId, body: CorrectionRequest, session: Session, request: Request,
                  principal: CurrentPrincipal):
    found, _ = await consignments.get_consignment(session=session, consignment_id=consignment_id)
    await access.ensure_can_correct_receipt(session=session, orders=orders_client(request), principal=principal,
                                            consignment=found)
    consignment, stored = await consignments.correct_receipt(
        session=session, kernel=kernel, payments=request.app.state.clients["payments"],
        consignment_id=consignment_id, lines=received_lines(body), reason=body.reason,
        corrected_by=principal.account_id, margin_percent=request.app.state.settings.receive_margin_percent)
    return consignment_out(consignment, stored)


# --- route plans ---

def plan_out(stored) -> RoutePlanOut:
    return RoutePlanOut(**stored.plan, created_at=stored.created_at)


@router.post("/cycles/{cycle_id}/routes", response_model=RoutePlanOut, status_code=201, tags=["routes"],
             summary="Plan the cycle's delivery routes (replaces an earlier plan)")
async def plan_routes(cycle_id: CycleId, body: RoutePlanRequest, request: Request, session: Session,
                      principal: Coordinator):
    await access.ensure_cycle_coordinator(session=session, orders=orders_client(request), principal=principal,
                                          cycle_id=cycle_id)
    stored = await planning.plan_cycle(session=session, cycle_id=cycle_id, request=body,
                                       settings=request.app.state.settings, created_by=principal.account_id)
    return plan_out(stored)


@router.get("/cycles/{cycle_id}/routes", response_model=RoutePlanOut, tags=["routes"],
            summary="The cycle's stored route plan")
async def get_routes(cycle_id: CycleId, session: Session, request: Request, principal: CurrentPrincipal):
    await access.ensure_can_read_route_plan(session=session, orders=orders_client(request), principal=principal,
                                            cycle_id=cycle_id)
    return plan_out(await planning.get_plan(session=session, cycle_id=cycle_id))


# --- monitoring ---

@router.get("/stats/deliveries", response_model=DeliveryStats, response_model_by_alias=True, tags=["monitoring"],
            summary="Orders, pickups and no-shows per delivery point (no personal data)")
async def delivery_stats(
    session: Session, caller: MonitoringCaller,
    municipality: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
    date_from: Annotated[date | None, Query(alias="from")] = None,
    date_to: Annotated[date | None, Query(alias="to")] = None,
):
    if caller is not None and caller.role == Role.municipality:
        if municipality and municipality != caller.municipality_code:
            raise Forbidden("a municipality sees its own territory only", code="not_your_municipality")
        municipality = caller.municipality_code
    rows = await stats.delivery_stats(session=session, municipality_code=municipality, date_from=date_from,
                                      date_to=date_to)
    return DeliveryStats(municipality=municipality, date_from=date_from, date_to=date_to, points=rows)
