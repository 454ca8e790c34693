"""Reference prices (municipality accounts) and supply figures for monitoring."""

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
    ReferencePricePatch,
    SupplyStatsOut,
)
from services.common.app import Session
from services.common.auth import CurrentPrincipal, MonitoringCaller
from services.common.pagination import Page

router = APIRouter(responses=ERROR_RESPONSES)
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
CodeQuery = Annotated[str | None, Query(pattern=r"^[0-9]{6}$")]


@router.get("/reference-prices", response_model=Page[ReferencePriceOut], tags=["prices"])
async def list_reference_prices(session: Session, paging: Paging, municipality: CodeQuery = None,
                                category: Category | None = None):
    items, cursor = await reference_prices.list_reference_prices(
        session=session, municipality=municipality, category=category.value if category else None, params=paging)
    return {"items": items, "next_cursor": cursor}


@router.post("/reference-prices", response_model=ReferencePriceOut, status_code=201, tags=["prices"])
async def add_reference_price(body: ReferencePriceIn, session: Session, principal: CurrentPrincipal):
    return await reference_prices.add_reference_price(session=session, principal=principal, data=body)


@router.patch("/reference-prices/{reference_id}", response_model=ReferencePriceOut, tags=["prices"])
async def change_reference_price(reference_id: IdPath, body: ReferencePricePatch, session: Session,
                                 principal: CurrentPrincipal):
    return await reference_prices.change_reference_price(session=session, principal=principal,
                                                         reference_id=reference_id, price=body.price)


@router.delete("/reference-prices/{reference_id}", status_code=204, tags=["prices"])
async def remove_reference_price(reference_id: IdPath, session: Session, principal: CurrentPrincipal):
    await reference_prices.remove_reference_price(session=session, principal=principal, reference_id=reference_id)
    return Response(status_code=204)


@router.get("/stats/supply", response_model=SupplyStatsOut, tags=["monitoring"],
            summary="Supply aggregates for a municipality, a department or the country")
async def supply(session: Session, caller: MonitoringCaller, municipality: CodeQuery = None,
                 department: Annotated[str | None, Query(max_length=60)] = None):
    return await stats.supply_stats(session=session, municipality=municipality, department=department,
                                    caller=caller)
