"""Consumers' orders: quote, place, list, cancel, move, and status changes by the coordinator."""

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from services.common.app import Session
from services.common.auth import CurrentPrincipal
from services.common.pagination import PageParams, page_params
from services.orders import placement, quote, waitlist
from services.orders.routes.deps import Consumer, Coordinator, CycleId, IdempotencyKey, OrderPath, next_cursor
from services.orders.schemas import (
    OrderCreate,
    OrderMove,
    OrderOut,
    OrderPage,
    OrderStatus,
    OrderStatusChange,
    QuoteOut,
)

router = APIRouter()


@router.post("/orders/quote", response_model=QuoteOut, tags=["orders"],
             summary="Lines, fees and total of an order before confirming it (reserves nothing)")
async def quote_order(body: OrderCreate, principal: Consumer, session: Session, request: Request):
    return await quote.quote_order(session=session,
                                   catalog=request.app.state.clients["catalog"], body=body)


@router.post("/orders", status_code=201, response_model=OrderOut, tags=["orders"],
             summary="Place an order: reserves stock, books a slot at the point, snapshots prices and fees")
async def place_order(body: OrderCreate, principal: Consumer, request: Request, idempotency_key: IdempotencyKey = None):
    state = request.app.state
    return await placement.place_order(db=state.db, kernel=state.kernel, clients=state.clients, principal=principal,
                                       body=body, idempotency_key=idempotency_key)


@router.get("/orders", response_model=OrderPage, tags=["orders"],
            summary="My orders (consumers); my cycles' orders (coordinators)")
async def list_orders(session: Session, principal: CurrentPrincipal, page: Annotated[PageParams, Depends(page_params)],
                      cycle_id: CycleId | None = None, status: OrderStatus | None = None):
    items, nxt = await placement.list_orders(session=session, principal=principal, cycle_id=cycle_id, status=status,
                                             limit=page.limit, cursor=page.cursor)
    return {"items": items, "next_cursor": next_cursor(nxt)}


@router.get("/orders/{order_id}", response_model=OrderOut, tags=["orders"])
async def get_order(order_id: OrderPath, session: Session, principal: CurrentPrincipal):
    return await placement.visible_order(session=session, principal=principal, order_id=order_id)


@router.post("/orders/{order_id}/cancel", response_model=OrderOut, tags=["orders"],
             summary="Cancel until the cycle closes (a waiting order too); frees stock and slot")
async def cancel_order(order_id: OrderPath, principal: CurrentPrincipal, request: Request):
    state = request.app.state
    return await placement.cancel_order(db=state.db, kernel=state.kernel, clients=state.clients, principal=principal,
                                        order_id=order_id, reason="cancelled_by_" + principal.role.value)


@router.post("/orders/{order_id}/move", response_model=OrderOut, tags=["orders"],
             summary="Move a waiting order to another point of its cycle with room: it is placed there at once")
async def move_order(order_id: OrderPath, data: OrderMove, principal: CurrentPrincipal, request: Request):
    state = request.app.state
    await waitlist.move_order(db=state.db, kernel=state.kernel, clients=state.clients, principal=principal,
                              order_id=order_id, point_id=data.delivery_point_id)
    async with state.db.session() as session:
        return await placement.order_view(session=session, order_id=order_id)


@router.post("/orders/{order_id}/status", response_model=OrderOut, tags=["orders"],
             summary="Move an order: packed, ready, picked_up or no_show (cycle coordinator)")
async def change_status(order_id: OrderPath, data: OrderStatusChange, principal: Coordinator, session: Session):
    return await placement.change_status(session=session, principal=principal, order_id=order_id, status=data.status)
