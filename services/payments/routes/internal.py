"""Calls from other services only."""


from fastapi import APIRouter

from services.common.app import Session
from services.common.auth import (
    ServiceCaller,
)
from services.payments import corrections, reports
from services.payments.routes.outputs import receivable_out
from services.payments.schemas import (
    Id,
    IdQuery,
    ReceivableHold,
    ReceivableOut,
)

router = APIRouter()


@router.post("/internal/receivables/hold", response_model=ReceivableOut, tags=["internal"],
             summary="Hold a receivable while delivery corrects its receipt (409 once an advance was drawn on it)")
async def hold_receivable(body: ReceivableHold, session: Session, _: ServiceCaller):
    return receivable_out(await corrections.hold_for_correction(session=session, consignment_id=body.consignment_id,
                                                                correction_id=body.correction_id))


@router.get("/internal/producers/{producer_id}/statement-totals", tags=["internal"],
            summary="A producer's statement totals for a cycle (the gateway's 'settlement ready' notice)")
async def statement_totals(producer_id: Id, cycle_id: IdQuery, session: Session, _: ServiceCaller):
    found = await reports.producer_statement(session=session, producer_id=producer_id, cycle_id=cycle_id)
    return {"producer_id": producer_id, "cycle_id": cycle_id, "consignments": len(found["consignments"]),
            "totals": found["totals"]}
