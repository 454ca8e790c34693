"""Calls from other services only."""


from fastapi import APIRouter

from services.common.app import Session
from services.common.auth import (
    ServiceCaller,
)
from services.payments import corrections
from services.payments.routes.outputs import receivable_out
from services.payments.schemas import (
    ReceivableHold,
    ReceivableOut,
)

router = APIRouter()


@router.post("/internal/receivables/hold", response_model=ReceivableOut, tags=["internal"],
             summary="Hold a receivable while delivery corrects its receipt (409 once an advance was drawn on it)")
async def hold_receivable(body: ReceivableHold, session: Session, _: ServiceCaller):
    return receivable_out(await corrections.hold_for_correction(session=session, consignment_id=body.consignment_id,
                                                                correction_id=body.correction_id))
