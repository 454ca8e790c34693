"""Reference prices (municipality accounts) and supply figures for monitoring."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from services.catalog import reference_prices, stats
from services.catalog.models import Category
from services.catalog.routes.deps import Paging
from services.catalog.schemas import (
    ERROR_RESPONSES,
    MAX_ID,
    ReferencePriceIn,
    ReferencePriceOut,
    SupplyStatsOut,
)
from services.common.app import Session
from services.common.auth import CurrentPrincipal, MonitoringCaller
from services.common.pagination import Page

router = APIRouter(responses=ERROR_RESPONSES)
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
CodeQuery = Annotated[str | None, Query(pattern=r"^[0-9]{6}$")]


@router.get("/reference-prices", response_model=Page[ReferencePriceOut], tags=["prices"],
            summary="Reference prices valid on a day (today by default), or their whole history")
async def list_reference_prices(session: Session, paging: Paging, municipality: CodeQuery = None,
                                category: Category | None = None, on: date | None = None, history: bool = False):
    items, cursor = await reference_prices.list_reference_prices(
        session=session, municipality=municipality, category=category.value if category else None, on=on,
        history=history, params=paging)
    return {"items": items, "next_cursor": cursor}


@router.post("/reference-prices", response_model=ReferencePriceOut, status_code=201, tags=["prices"],
             summary="Enter a new price version; it closes the one before it of the same product and unit")
async def add_reference_price(body: ReferencePriceIn, session: Session, principal: CurrentPrincipal):
    return await reference_prices.add_reference_price(session=session, principal=principal, data=body)


@router.patch("/reference-prices/{reference_id}", tags=["prices"],
              summary="Always refused (422 reference_price_is_history): enter a new version with POST")
async def change_reference_price(reference_id: IdPath, session: Session, principal: CurrentPrincipal):
    await reference_prices.refuse_change(session=session, principal=principal, reference_id=reference_id)


@router.delete("/reference-prices/{reference_id}", status_code=204, tags=["prices"],
               summary="Withdraw the latest price of its kind from today on; it stays in the history")
async def withdraw_reference_price(reference_id: IdPath, session: Session, principal: CurrentPrincipal):
    await reference_prices.withdraw_reference_price(session=session, principal=principal, reference_id=reference_id)
    return Response(status_code=204)


@router.get("/stats/supply", response_model=SupplyStatsOut, tags=["monitoring"],
            summary="Supply aggregates for a municipality, a department or the country")
async def supply(session: Session, caller: MonitoringCaller, municipality: CodeQuery = None,
                 department: Annotated[str | None, Query(max_length=60)] = None, on: date | None = None):
    return await stats.supply_stats(session=session, municipality=municipality, department=department,
                                    on=on, caller=caller)
