"""`GET /api/price-alerts`: the fair-price alerts of a territory, newest first. A municipality sees
only its own (the monitoring's access rules, `gateway.monitoring.access`); coordinators and admins
any municipality, a department or all."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from sqlalchemy import select

from gateway.fair_prices.models import PriceAlert
from gateway.monitoring.access import resolve_scope
from gateway.monitoring.api import Department, Municipality
from gateway.monitoring.figures import bs
from gateway.monitoring.sources import clients, municipality_codes
from services.common.app import Session
from services.common.auth import CurrentPrincipal
from services.common.timestamps import UtcTimestamp

router = APIRouter(prefix="/api", tags=["monitoring"])


class PriceAlertOut(BaseModel):
    id: int
    kind: str
    municipality_code: str
    product: str
    unit: str
    price: str
    band_min: str | None
    band_max: str | None
    reference: str
    producer_id: int | None
    organization_id: int | None
    order_id: int | None
    created_at: UtcTimestamp


def alert_out(a: PriceAlert) -> PriceAlertOut:
    return PriceAlertOut(id=a.id, kind=a.kind, municipality_code=a.municipality_code, product=a.product,
                         unit=a.unit, price=bs(a.price_centavos),
                         band_min=None if a.band_min_centavos is None else bs(a.band_min_centavos),
                         band_max=None if a.band_max_centavos is None else bs(a.band_max_centavos),
                         reference=bs(a.reference_centavos), producer_id=a.producer_id,
                         organization_id=a.organization_id, order_id=a.order_id, created_at=a.created_at)


@router.get("/price-alerts", response_model=list[PriceAlertOut],
            summary="Prices sold below or offered above a municipality's fair band, newest first")
async def price_alerts(request: Request, session: Session, principal: CurrentPrincipal,
                       municipality: Municipality = None, department: Department = None,
                       limit: Annotated[int, Query(ge=1, le=200)] = 50):
    scope = resolve_scope(principal, municipality=municipality, department=department, date_from=None, date_to=None)
    codes = await municipality_codes(clients(request), scope)
    query = select(PriceAlert).order_by(PriceAlert.id.desc()).limit(limit)
    if codes is not None:
        query = query.where(PriceAlert.municipality_code.in_(codes))
    return [alert_out(a) for a in (await session.execute(query)).scalars()]
