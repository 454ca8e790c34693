"""Cycles' coordination, producers' profiles, statements, eligibility and receivables."""

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy import select

from services.common.app import Session
from services.common.auth import (
    CurrentPrincipal,
)
from services.common.errors import Forbidden, NotFound
from services.payments import access, advances, reports
from services.payments import organization_statement as statements
from services.payments.models import (
    cycles,
    producer_profiles,
    receivables,
)
from services.payments.order_book import remember_producer
from services.payments.routes.deps import Admin
from services.payments.routes.outputs import advances_out, bs, receivable_out
from services.payments.schemas import (
    AdvanceOut,
    CycleCoordination,
    EligibilityOut,
    Id,
    IdQuery,
    OrganizationStatementOut,
    ProducerProfileIn,
    ProducerProfileOut,
    ReceivableOut,
    UncollectibleIn,
)

router = APIRouter()


@router.put("/cycles/{cycle_id}/coordination", tags=["payments"], summary="Who coordinates a cycle (admins)")
async def set_coordination(cycle_id: Id, body: CycleCoordination, session: Session, _: Admin):
    from services.payments.order_book import remember_cycle

    await remember_cycle(session=session, payload={"cycle_id": cycle_id,
                                                   "coordinator_account_id": body.coordinator_account_id,
                                                   "municipality_code": body.municipality_code,
                                                   "coordinator_organization_id": body.organization_id})
    row = (await session.execute(select(cycles).where(cycles.c.cycle_id == cycle_id))).one()
    return {"cycle_id": cycle_id, "coordinator_account_id": row.coordinator_account_id,
            "organization_id": row.organization_id, "municipality_code": row.municipality_code}


@router.put("/producers/{producer_id}/profile", response_model=ProducerProfileOut, tags=["pronto pago"],
            summary="Register a producer's ledger profile (gender and municipality feed the reports)")
async def put_profile(producer_id: Id, body: ProducerProfileIn, session: Session, principal: CurrentPrincipal):
    access.require_producer_access(principal, producer_id)
    if body.organization_id is not None and not principal.is_admin:
        # membership is confirmed by the organization in the catalog, never declared here: it opens
        # the producer's statement and receivables to that organization's account
        raise Forbidden("the organization comes from a confirmed membership in the catalog; ask to join there",
                        code="membership_required")
    await remember_producer(session=session, producer_id=producer_id, **body.model_dump())
    return await get_profile(producer_id, session, principal)


@router.get("/producers/{producer_id}/profile", response_model=ProducerProfileOut, tags=["pronto pago"])
async def get_profile(producer_id: Id, session: Session, principal: CurrentPrincipal):
    access.require_producer_access(principal, producer_id,
                                   organization_id=await access.producer_organization(session, producer_id))
    row = (await session.execute(select(producer_profiles).where(producer_profiles.c.producer_id == producer_id))
           ).one_or_none()
    if row is None:
        raise NotFound(f"producer {producer_id} has no ledger profile yet", code="producer_not_found")
    return ProducerProfileOut(producer_id=row.producer_id, name=row.name, gender=row.gender,
                              municipality_code=row.municipality_code, organization_id=row.organization_id)


@router.get("/producers/{producer_id}/statement", tags=["settlement"],
            summary="Statement per producer and cycle: lines, fees, advances, repayments, net payable",
            responses={200: {"content": {"application/json": {}, "text/csv": {}, "application/pdf": {}}}})
async def statement(producer_id: Id, cycle_id: IdQuery, session: Session, principal: CurrentPrincipal,
                    format: Literal["json", "csv", "pdf"] = "json"):
    access.require_producer_access(principal, producer_id,
                                   organization_id=await access.producer_organization(session, producer_id))
    data = await reports.producer_statement(session=session, producer_id=producer_id, cycle_id=cycle_id)
    name = f"liquidacion-{producer_id}-{cycle_id}"
    if format == "csv":
        return Response(reports.statement_csv(data), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    if format == "pdf":
        return Response(reports.statement_pdf(data), media_type="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'})
    return data


@router.get("/producers/{producer_id}/eligibility", response_model=EligibilityOut, tags=["pronto pago"])
async def eligibility(producer_id: Id, session: Session, principal: CurrentPrincipal):
    access.require_producer_access(principal, producer_id,
                                   organization_id=await access.producer_organization(session, producer_id))
    found = await advances.eligibility(session=session, producer_id=producer_id)
    return EligibilityOut(producer_id=producer_id, eligible_value=bs(found["eligible_value"]),
                          outstanding_principal=bs(found["outstanding_principal"]),
                          receivables=[receivable_out(r) for r in found["receivables"]],
                          offers=[{**o, "min_advance": bs(o["min_advance"]), "max_advance": bs(o["max_advance"]),
                                   "fee_for_max": bs(o["fee_for_max"])} for o in found["offers"]])


@router.get("/organizations/{organization_id}/members-statement", response_model=OrganizationStatementOut,
            tags=["settlement"], summary="Per member: delivered, fees, owed and collected (the organization, admins)")
async def organization_members_statement(organization_id: Id, session: Session, principal: CurrentPrincipal):
    access.require_organization(principal, organization_id)
    return await statements.organization_statement(session=session, organization_id=organization_id)


@router.get("/producers/{producer_id}/receivables", response_model=list[ReceivableOut], tags=["settlement"])
async def producer_receivables(producer_id: Id, session: Session, principal: CurrentPrincipal):
    access.require_producer_access(principal, producer_id,
                                   organization_id=await access.producer_organization(session, producer_id))
    rows = (await session.execute(select(receivables).where(receivables.c.producer_id == producer_id)
                                  .order_by(receivables.c.id.desc()).limit(500))).all()
    return [receivable_out(r) for r in rows]


@router.get("/producers/{producer_id}/advances", response_model=list[AdvanceOut], tags=["pronto pago"],
            summary="A producer's advance history, debts included")
async def producer_advances(producer_id: Id, session: Session, principal: CurrentPrincipal):
    access.require_producer_access(principal, producer_id,
                                   organization_id=await access.producer_organization(session, producer_id))
    return await advances_out(session, await reports.producer_history(session=session, producer_id=producer_id))

@router.post("/receivables/{receivable_id}/uncollectible", response_model=ReceivableOut, tags=["pronto pago"],
             summary="Declare a receivable uncollectible: an unpaid advance on it stays the producer's debt")
async def uncollectible(receivable_id: Id, body: UncollectibleIn, session: Session, _: Admin):
    return receivable_out(await advances.declare_uncollectible(session=session, receivable_id=receivable_id,
                                                               reason=body.reason))
