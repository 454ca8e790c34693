"""Financiers, their funds and portfolio, and advance policies."""


from fastapi import APIRouter
from sqlalchemy import select

from services.common.app import Session
from services.common.auth import (
    CurrentPrincipal,
    Role,
)
from services.common.errors import Forbidden, InvalidInput, NotFound
from services.common.money import to_centavos
from services.payments import access, advances, reports
from services.payments.models import (
    advance_policies,
    funds,
)
from services.payments.routes.deps import Financier
from services.payments.routes.outputs import fund_out, policy_out
from services.payments.schemas import (
    FinancierCreate,
    FinancierOut,
    FundCreate,
    FundOut,
    Id,
    PolicyCreate,
    PolicyOut,
    Report,
)

router = APIRouter()


@router.post("/financiers", response_model=FinancierOut, status_code=201, tags=["pronto pago"])
async def create_financier(body: FinancierCreate, session: Session, principal: CurrentPrincipal):
    if principal.is_admin:
        if body.id is None:
            raise InvalidInput("admins give the financier's id (the financier_id of her accounts)", code="id_required")
        financier_id = body.id
    elif principal.role == Role.financier and principal.financier_id is not None:
        financier_id = int(principal.financier_id)
        if body.id not in (None, financier_id):
            raise Forbidden("a financier registers only herself", code="not_your_portfolio")
    else:
        raise Forbidden("only financiers and admins register financiers", code="role_required")
    row = await advances.register_financier(session=session, financier_id=financier_id, name=body.name, kind=body.kind)
    return FinancierOut(id=row.id, name=row.name, kind=row.kind)


@router.get("/financiers/{financier_id}", response_model=FinancierOut, tags=["pronto pago"])
async def get_financier(financier_id: Id, session: Session, principal: CurrentPrincipal):
    access.require_financier(principal, financier_id)
    row = await advances.financier(session=session, financier_id=financier_id)
    return FinancierOut(id=row.id, name=row.name, kind=row.kind)


@router.post("/financiers/{financier_id}/funds", response_model=FundOut, status_code=201, tags=["pronto pago"])
async def create_fund(financier_id: Id, body: FundCreate, session: Session, principal: CurrentPrincipal):
    access.require_financier(principal, financier_id)
    return fund_out(await advances.open_fund(session=session, financier_id=financier_id, name=body.name,
                                             cap=to_centavos(body.cap), kind=body.kind, settlor=body.settlor,
                                             beneficiary_organization_ids=body.beneficiary_organization_ids))


@router.get("/financiers/{financier_id}/funds", response_model=list[FundOut], tags=["pronto pago"])
async def list_funds(financier_id: Id, session: Session, principal: CurrentPrincipal):
    access.require_financier(principal, financier_id)
    rows = (await session.execute(select(funds).where(funds.c.financier_id == financier_id).order_by(funds.c.id))).all()
    return [fund_out(r) for r in rows]


@router.get("/financiers/{financier_id}/portfolio", response_model=Report, tags=["pronto pago"],
            summary="Outstanding, repaid, fees earned; by producer, by municipality; women's share")
async def portfolio(financier_id: Id, session: Session, principal: CurrentPrincipal):
    access.require_financier(principal, financier_id)
    return await reports.financier_portfolio(session=session, financier_id=financier_id)


@router.get("/advance-policies", response_model=list[PolicyOut], tags=["pronto pago"],
            summary="Active policies (a financier sees all of hers)")
async def list_policies(session: Session, principal: CurrentPrincipal):
    query = select(advance_policies).order_by(advance_policies.c.id)
    if principal.role == Role.financier:
        query = query.where(advance_policies.c.financier_id == principal.financier_id)
    elif not principal.is_admin:
        query = query.where(advance_policies.c.active.is_(True))
    return [policy_out(r) for r in (await session.execute(query.limit(500))).all()]


@router.post("/advance-policies", response_model=PolicyOut, status_code=201, tags=["pronto pago"])
async def create_policy(body: PolicyCreate, session: Session, principal: Financier):
    fund = (await session.execute(select(funds).where(funds.c.id == body.fund_id))).one_or_none()
    if fund is None:
        raise NotFound(f"fund {body.fund_id} does not exist", code="fund_not_found")
    access.require_financier(principal, fund.financier_id)
    row = await advances.create_policy(
        session=session, financier_id=fund.financier_id, fund_id=body.fund_id, name=body.name,
        advance_rate=body.advance_rate, fee_kind=body.fee_kind, fee_value=body.fee_value,
        min_amount=to_centavos(body.min_amount), max_amount=to_centavos(body.max_amount),
        producer_limit=to_centavos(body.producer_limit),
        auto_approve_up_to=None if body.auto_approve_up_to is None else to_centavos(body.auto_approve_up_to))
    return policy_out(row)
