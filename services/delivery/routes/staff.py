"""Point staff of a cycle: the cycle's coordinator assigns accounts to its delivery points."""

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from services.common.app import Session
from services.common.auth import CurrentPrincipal
from services.delivery import staff
from services.delivery.schemas import MAX_ID, StaffAssign, StaffOut

router = APIRouter(tags=["point staff"])
CycleId = Annotated[int, Path(ge=1, le=MAX_ID)]
PointId = Annotated[int, Path(ge=1, le=MAX_ID)]
AccountId = Annotated[int, Path(ge=1, le=MAX_ID)]


def staff_out(row) -> StaffOut:
    return StaffOut(cycle_id=row.cycle_id, point_id=row.point_id, account_id=row.account_id,
                    assigned_by=row.assigned_by, assigned_at=row.assigned_at)


@router.post("/cycles/{cycle_id}/points/{point_id}/staff", response_model=StaffOut, status_code=201,
             summary="Assign an account to work at one of the cycle's points (the cycle's coordinator)")
async def assign(cycle_id: CycleId, point_id: PointId, body: StaffAssign, session: Session, request: Request,
                 principal: CurrentPrincipal):
    row = await staff.assign_staff(session=session, orders=request.app.state.clients["orders"], principal=principal,
                                   cycle_id=cycle_id, point_id=point_id, account_id=body.account_id)
    return staff_out(row)


@router.get("/staff/me", response_model=list[StaffOut],
            summary="The points the caller works at, newest cycle first (her own assignments)")
async def my_duties(session: Session, principal: CurrentPrincipal):
    return [staff_out(r) for r in await staff.duties_of(session=session, account_id=principal.account_id)]


@router.get("/cycles/{cycle_id}/staff", response_model=list[StaffOut],
            summary="Who works at the cycle's points (the cycle's coordinator)")
async def list_staff(cycle_id: CycleId, session: Session, request: Request, principal: CurrentPrincipal):
    rows = await staff.list_staff(session=session, orders=request.app.state.clients["orders"], principal=principal,
                                  cycle_id=cycle_id)
    return [staff_out(r) for r in rows]


@router.delete("/cycles/{cycle_id}/points/{point_id}/staff/{account_id}", status_code=204, response_class=Response,
               summary="Take an account off a point of the cycle (the cycle's coordinator)")
async def remove(cycle_id: CycleId, point_id: PointId, account_id: AccountId, session: Session, request: Request,
                 principal: CurrentPrincipal):
    await staff.remove_staff(session=session, orders=request.app.state.clients["orders"], principal=principal,
                             cycle_id=cycle_id, point_id=point_id, account_id=account_id)
