"""Internal stock reservation endpoints for the orders service (docs/internal-api.md)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from services.catalog import registry, stock
from services.catalog.schemas import (
    ERROR_RESPONSES,
    AdjustIn,
    AdjustOut,
    CommittedOut,
    LineIdsIn,
    ProducerEnrolmentIn,
    ProducerOut,
    ReleasedOut,
    ReservationIn,
    ReservationOut,
)
from services.common.app import Session
from services.common.auth import ServiceCaller

router = APIRouter(prefix="/internal/reservations", tags=["internal: stock reservation"], responses=ERROR_RESPONSES)


async def reservation_batcher(request: Request) -> stock.ReservationBatcher:  # async: no thread hop
    state = request.app.state
    if getattr(state, "reservation_batcher", None) is None or state.reservation_batcher.db is not state.db:
        state.reservation_batcher = stock.ReservationBatcher(state.db)
    return state.reservation_batcher


@router.post("", response_model=ReservationOut, summary="Reserve order lines, all or nothing")
async def reserve(body: ReservationIn, _caller: ServiceCaller,
                  batcher: Annotated[stock.ReservationBatcher, Depends(reservation_batcher)]):
    lines = [stock.LineRequest(line_id=ln.line_id, product_id=ln.product_id, quantity=ln.quantity)
             for ln in body.lines]
    return {"lines": await batcher.reserve(order_id=body.order_id, lines=lines)}


@router.post("/release", response_model=ReleasedOut, summary="Return reserved lines to available stock")
async def release(body: LineIdsIn, session: Session, _caller: ServiceCaller):
    return {"released": await stock.release_reservations(session=session, line_ids=body.line_ids)}


@router.post("/commit", response_model=CommittedOut, summary="Turn reserved lines into sold stock")
async def commit(body: LineIdsIn, session: Session, _caller: ServiceCaller):
    return {"committed": await stock.commit_reservations(session=session, line_ids=body.line_ids)}


@router.post("/adjust", response_model=AdjustOut, summary="Lower a reserved line")
async def adjust(body: AdjustIn, session: Session, _caller: ServiceCaller):
    return await stock.adjust_reservation(session=session, line_id=body.line_id, quantity=body.quantity)


enrolment = APIRouter(prefix="/internal/producers", tags=["internal: enrolment"], responses=ERROR_RESPONSES)


@enrolment.post("", response_model=ProducerOut, status_code=201,
                summary="The registry record of a producer who registered her own account (gateway only)")
async def enrol_producer(body: ProducerEnrolmentIn, session: Session, _caller: ServiceCaller):
    return await registry.enrol_producer(session=session, data=body)
