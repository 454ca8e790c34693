"""Figures for the gateway's monitoring."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from services.common.app import Session
from services.common.auth import (
    MonitoringCaller,
)
from services.payments import reports
from services.payments.schemas import (
    PlainQuery,
    Report,
)

router = APIRouter()


@router.get("/stats/advances", response_model=Report, tags=["monitoring"],
            summary="Advance counts, value, fees and women's share; no personal data")
async def advance_stats(session: Session, caller: MonitoringCaller,
                        municipality: Annotated[str | None, Query(max_length=16, pattern=PlainQuery)] = None,
                        date_from: Annotated[date | None, Query(alias="from")] = None,
                        date_to: Annotated[date | None, Query(alias="to")] = None):
    return await reports.advance_statistics(session=session, municipality_code=municipality,
                                            date_from=date_from, date_to=date_to, caller=caller)
