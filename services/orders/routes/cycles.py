"""Order cycles: opening, changing, closing and consolidating them, and their agrobolsas."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.common.app import Session
from services.common.auth import CurrentPrincipal
from services.common.errors import Conflict, DomainError, JsonResponse
from services.common.pagination import PageParams, page_params
from services.orders import consolidation, cycles, waitlist
from services.orders.routes.deps import (
    Coordinator,
    CyclePath,
    next_cursor,
)
from services.orders.schemas import (
    BasketCreate,
    BasketOut,
    CycleCreate,
    CycleOut,
    CyclePage,
    CycleStatus,
    CycleUpdate,
)

router = APIRouter()


@router.post("/cycles", status_code=201, response_model=CycleOut, tags=["cycles"], summary="Open a cycle (coordinator)")
async def create_cycle(data: CycleCreate, principal: Coordinator, session: Session, request: Request):
    return await cycles.create_cycle(session=session, kernel=request.app.state.kernel,
                                     delivery=request.app.state.clients["delivery"],
                                     principal=principal, data=data)


@router.get("/cycles", response_model=CyclePage, tags=["cycles"], summary="Cycles, newest first")
async def list_cycles(session: Session, principal: CurrentPrincipal, page: Annotated[PageParams, Depends(page_params)],
                      status: CycleStatus | None = None, mine: bool = False):
    items, nxt = await cycles.list_cycles(session=session, status=status, limit=page.limit, cursor=page.cursor,
                                          mine_of=principal.account_id if mine else None)
    return {"items": items, "next_cursor": next_cursor(nxt)}


@router.get("/cycles/{cycle_id}", response_model=CycleOut, tags=["cycles"])
async def get_cycle(cycle_id: CyclePath, session: Session, principal: CurrentPrincipal):
    return cycles.cycle_out(await cycles.load_cycle(session=session, cycle_id=cycle_id))

@router.patch("/cycles/{cycle_id}", response_model=CycleOut, tags=["cycles"],
              summary="Edit a draft or open cycle, or move its status (open, delivered, settled)")
async def update_cycle(cycle_id: CyclePath, data: CycleUpdate, principal: Coordinator, session: Session, request: Request):
    return await cycles.update_cycle(session=session, kernel=request.app.state.kernel,
                                     delivery=request.app.state.clients["delivery"],
                                     principal=principal, cycle_id=cycle_id, data=data)


@router.post("/cycles/{cycle_id}/close", tags=["cycles"],
             summary="Close a cycle now and consolidate it (pick lists, packing lists, cases)")
async def close_cycle(cycle_id: CyclePath, principal: Coordinator, request: Request):
    db, state = request.app.state.db, request.app.state
    async with db.session() as session:
        cycle = await cycles.load_cycle(session=session, cycle_id=cycle_id, lock="update")
        cycles.check_owner(principal=principal, cycle=cycle)
        if cycle.status not in ("open", "closed", "consolidated"):
            raise Conflict(f"a {cycle.status} cycle cannot be closed", code="invalid_transition",
                           details={"status": cycle.status})
        await waitlist.close_cycle(session=session, kernel=state.kernel, cycle_id=cycle_id)
    return await _consolidate(state, cycle_id)


@router.post("/cycles/{cycle_id}/consolidate", tags=["cycles"],
             summary="Retry the consolidation of a closed cycle (after catalog was unreachable)")
async def consolidate(cycle_id: CyclePath, principal: Coordinator, request: Request):
    async with request.app.state.db.session() as session:
        cycles.check_owner(principal=principal, cycle=await cycles.load_cycle(session=session, cycle_id=cycle_id))
    return await _consolidate(request.app.state, cycle_id)


async def _consolidate(state, cycle_id: int) -> dict:
    outcome = {"cases": [], "consolidation_error": None}
    try:
        outcome.update(await consolidation.consolidate_cycle(db=state.db, kernel=state.kernel, clients=state.clients,
                                                             cycle_id=cycle_id))
    except DomainError as exc:
        if exc.status < 500:
            raise
        outcome["consolidation_error"] = {"code": exc.code, "message": exc.message}
    async with state.db.session() as session:
        cycle = cycles.cycle_out(await cycles.load_cycle(session=session, cycle_id=cycle_id))
    return {"cycle": CycleOut(**cycle).model_dump(mode="json"), "cases": outcome["cases"],
            "consolidation_error": outcome["consolidation_error"]}


@router.get("/cycles/{cycle_id}/consolidation", tags=["cycles"],
            summary="Pick lists per producer, packing lists per point, totals per organization",
            responses={200: {"content": {"application/json": {}, "text/csv": {}, "application/pdf": {}}}})
async def get_consolidation(cycle_id: CyclePath, principal: Coordinator, session: Session,
                            format: Literal["json", "csv", "pdf"] = "json"):
    cycles.check_owner(principal=principal, cycle=await cycles.load_cycle(session=session, cycle_id=cycle_id))
    doc = await consolidation.build_consolidation(session=session, cycle_id=cycle_id)
    name = f"ciclo-{cycle_id}-consolidado"
    from services.orders import exports  # the PDF library is loaded by the first export, not by every worker
    if format == "csv":
        return Response(exports.consolidation_csv(doc).encode("utf-8"), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    if format == "pdf":
        return Response(exports.consolidation_pdf(doc), media_type="application/pdf",
                        headers={"Content-Disposition": f'inline; filename="{name}.pdf"'})
    # already plain JSON values (strings, numbers, dates): orjson writes it as is, without the walk of
    # FastAPI's encoder over every bag line of a big cycle (seconds at 100k lines)
    return JsonResponse(doc)


@router.post("/cycles/{cycle_id}/baskets", status_code=201, response_model=BasketOut, tags=["agrobolsas"],
             summary="Define an agrobolsa (fixed basket) for a cycle")
async def create_basket(cycle_id: CyclePath, data: BasketCreate, principal: Coordinator, session: Session):
    return await cycles.create_basket(session=session, principal=principal, cycle_id=cycle_id, data=data)


@router.get("/cycles/{cycle_id}/baskets", response_model=list[BasketOut], tags=["agrobolsas"])
async def list_baskets(cycle_id: CyclePath, session: Session, principal: CurrentPrincipal):
    return await cycles.list_baskets(session=session, cycle_id=cycle_id)
