"""Early payments (pronto pago): asking, listing, approving, disbursing and rejecting advances."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy import select

from services.common.app import Session
from services.common.auth import (
    CurrentPrincipal,
    Role,
)
from services.common.errors import Forbidden
from services.common.money import to_centavos
from services.payments import access, advances
from services.payments.models import advances as advances_table
from services.payments.models import (
    producer_profiles,
)
from services.payments.order_book import remember_producer
from services.payments.routes.deps import log
from services.payments.routes.outputs import advance_offer_out, advances_out
from services.payments.schemas import (
    AdvanceCreate,
    AdvanceOfferOut,
    AdvanceOut,
    DecisionIn,
    Id,
    PlainQuery,
)

router = APIRouter()


async def complete_profile_from_catalog(request: Request, session, producer_id: int) -> None:
    """Gender and municipality feed the reports; ask catalog once when the events did not carry them."""
    row = (await session.execute(select(producer_profiles).where(producer_profiles.c.producer_id == producer_id))
           ).one_or_none()
    catalog = (request.app.state.clients or {}).get("catalog")
    if catalog is None or (row is not None and row.gender and row.municipality_code):
        return
    try:
        found = await catalog.call("GET", f"/producers/{producer_id}")
    except Exception:  # catalog down or silent: the report shows the producer as unknown meanwhile
        log.info("could not read producer %s from catalog", producer_id)
        return
    await remember_producer(session=session, producer_id=producer_id, name=found.get("name"),
                            gender=found.get("gender"), municipality_code=found.get("municipality_code"),
                            organization_id=found.get("organization_id"))


@router.post("/advances/offer", response_model=AdvanceOfferOut, tags=["pronto pago"],
             summary="What an advance would be (amount, fee, repayment day), before asking for it; nothing is saved")
async def offer_advance(body: AdvanceCreate, session: Session, principal: CurrentPrincipal, request: Request):
    await complete_profile_from_catalog(request, session, body.producer_id)
    await access.require_may_ask_advance(session, principal, body.producer_id)
    offer = await advances.offer_advance(
        session=session, producer_id=body.producer_id, policy_id=body.policy_id,
        amount=None if body.amount is None else to_centavos(body.amount), receivable_ids=body.receivable_ids)
    return advance_offer_out(body.producer_id, offer)


@router.post("/advances", response_model=AdvanceOut, status_code=201, tags=["pronto pago"],
             summary="Ask for an advance, for an amount or on chosen receivables")
async def request_advance(body: AdvanceCreate, session: Session, principal: CurrentPrincipal, request: Request):
    await complete_profile_from_catalog(request, session, body.producer_id)
    await access.require_may_ask_advance(session, principal, body.producer_id)
    access.require_consent(principal, body.consent)
    consent = body.consent if principal.role == Role.organization else None
    row = await advances.request_advance(
        session=session, producer_id=body.producer_id, policy_id=body.policy_id,
        amount=None if body.amount is None else to_centavos(body.amount), receivable_ids=body.receivable_ids,
        requested_by=principal.account_id, consent=consent)
    return (await advances_out(session, [row]))[0]


@router.get("/advances", response_model=list[AdvanceOut], tags=["pronto pago"],
            summary="Advances I may see: a producer's own, a financier's portfolio")
async def list_advances(session: Session, principal: CurrentPrincipal,
                        status: Annotated[str | None, Query(max_length=16, pattern=PlainQuery)] = None):
    query = select(advances_table).order_by(advances_table.c.id.desc()).limit(500)
    if principal.role == Role.financier:
        query = query.where(advances_table.c.financier_id == principal.financier_id)
    elif principal.role == Role.producer:
        query = query.where(advances_table.c.producer_id == principal.producer_id)
    elif not principal.is_admin:
        raise Forbidden("advances are seen by their producer and their financier", code="role_required")
    if status:
        query = query.where(advances_table.c.status == status)
    return await advances_out(session, (await session.execute(query)).all())


@router.get("/advances/{advance_id}", response_model=AdvanceOut, tags=["pronto pago"])
async def get_advance(advance_id: Id, session: Session, principal: CurrentPrincipal):
    row = await advances.advance(session=session, advance_id=advance_id)
    if principal.role == Role.financier:
        access.require_financier(principal, row.financier_id)
    else:
        access.require_producer_access(principal, row.producer_id)
    return (await advances_out(session, [row]))[0]


@router.post("/advances/{advance_id}/approve", response_model=AdvanceOut, tags=["pronto pago"])
async def approve(advance_id: Id, session: Session, principal: CurrentPrincipal):
    row = await advances.approve_advance(session=session, advance_id=advance_id,
                                         financier_id=access.acting_financier(principal))
    return (await advances_out(session, [row]))[0]


@router.post("/advances/{advance_id}/disburse", response_model=AdvanceOut, tags=["pronto pago"])
async def disburse(advance_id: Id, session: Session, principal: CurrentPrincipal):
    row = await advances.disburse_advance(session=session, advance_id=advance_id,
                                          financier_id=access.acting_financier(principal))
    return (await advances_out(session, [row]))[0]


@router.post("/advances/{advance_id}/reject", response_model=AdvanceOut, tags=["pronto pago"])
async def reject(advance_id: Id, body: DecisionIn, session: Session, principal: CurrentPrincipal):
    row = await advances.reject_advance(session=session, advance_id=advance_id,
                                        financier_id=access.acting_financier(principal), reason=body.reason)
    return (await advances_out(session, [row]))[0]
