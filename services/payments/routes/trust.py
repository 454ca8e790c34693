"""Trust funds and accepted terms: money a settlor adds to a fund, the fund's position and report,
versions of an advance policy, and producers' acceptance of a version's terms."""

import uuid

from fastapi import APIRouter
from sqlalchemy import select

from services.common.app import Session
from services.common.auth import CurrentPrincipal, Role
from services.common.errors import Forbidden
from services.common.money import to_centavos
from services.payments import access, advances, terms, trust
from services.payments.models import terms_acceptances
from services.payments.routes.outputs import acceptance_out, contribution_out, policy_out
from services.payments.schemas import (
    AcceptanceCreate,
    AcceptanceOut,
    ContributionCreate,
    ContributionOut,
    Id,
    PolicyChange,
    PolicyOut,
    Report,
)

router = APIRouter(tags=["pronto pago"])


async def _own_fund(session, principal, fund_id: int):
    row = await trust.fund(session, fund_id)
    access.require_financier(principal, row.financier_id)
    return row


async def _own_policy(session, principal, policy_id: int):
    row = await advances.policy(session=session, policy_id=policy_id)
    access.require_financier(principal, row.financier_id)
    return row


@router.get("/funds/{fund_id}", response_model=Report, summary="A fund: money in, committed, available")
async def get_fund(fund_id: Id, session: Session, principal: CurrentPrincipal):
    await _own_fund(session, principal, fund_id)
    return await trust.position(session=session, fund_id=fund_id)


@router.get("/funds/{fund_id}/report", response_model=Report,
            summary="Money in, advances out, repayments, costs collected, losses; per organization and gender")
async def fund_report(fund_id: Id, session: Session, principal: CurrentPrincipal):
    await _own_fund(session, principal, fund_id)
    return await trust.fund_report(session=session, fund_id=fund_id)


@router.post("/funds/{fund_id}/contributions", response_model=ContributionOut, status_code=201,
             summary="The settlor's money reaches the fund (posted to the ledger; the fund grows)")
async def contribute(fund_id: Id, body: ContributionCreate, session: Session, principal: CurrentPrincipal):
    await _own_fund(session, principal, fund_id)
    row = await trust.contribute(session=session, fund_id=fund_id, amount=to_centavos(body.amount),
                                 client_id=body.client_id or uuid.uuid4().hex, note=body.note,
                                 recorded_by=principal.account_id)
    return contribution_out(row)


@router.get("/funds/{fund_id}/contributions", response_model=list[ContributionOut])
async def list_contributions(fund_id: Id, session: Session, principal: CurrentPrincipal):
    await _own_fund(session, principal, fund_id)
    return [contribution_out(r) for r in await trust.contributions(session=session, fund_id=fund_id)]


@router.post("/advance-policies/{policy_id}/versions", response_model=PolicyOut, status_code=201,
             summary="Change a policy: a new version (the old one is kept); producers accept it again")
async def change_policy(policy_id: Id, body: PolicyChange, session: Session, principal: CurrentPrincipal):
    await _own_policy(session, principal, policy_id)
    # what was sent; a null keeps the old value, except auto_approve_up_to where null means "never automatic"
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items()
               if v is not None or k == "auto_approve_up_to"}
    for name in ("min_amount", "max_amount", "producer_limit", "auto_approve_up_to"):
        if name in changes and changes[name] is not None:
            changes[name] = to_centavos(changes[name])
    return policy_out(await trust.change_policy(session=session, policy_id=policy_id, changes=changes))


@router.delete("/advance-policies/{policy_id}", response_model=PolicyOut,
               summary="End a policy (every version is kept): no new advances under it; those asked keep their terms")
async def retire_policy(policy_id: Id, session: Session, principal: CurrentPrincipal):
    await _own_policy(session, principal, policy_id)
    return policy_out(await trust.retire_policy(session=session, policy_id=policy_id))


@router.get("/advance-policies/{policy_id}/history", response_model=list[PolicyOut],
            summary="Every version of the policy, first to last")
async def policy_history(policy_id: Id, session: Session, principal: CurrentPrincipal):
    await _own_policy(session, principal, policy_id)
    return [policy_out(r) for r in await trust.history(session=session, policy_id=policy_id)]


@router.post("/advance-policies/{policy_id}/acceptances", response_model=AcceptanceOut, status_code=201,
             summary="A producer (or her organization, with her consent) accepts this version's terms")
async def accept_terms(policy_id: Id, body: AcceptanceCreate, session: Session, principal: CurrentPrincipal):
    if principal.role == Role.producer and principal.producer_id == body.producer_id:
        role, organization_id = "producer", None
    elif principal.role == Role.organization and principal.organization_id is not None:
        role, organization_id = "organization", int(principal.organization_id)
    else:
        raise Forbidden("Las condiciones las acepta la productora o su organización por ella.",
                        code="not_your_account")
    pol = await advances.policy(session=session, policy_id=policy_id)
    row = await terms.accept(session, pol=pol, producer_id=body.producer_id, account_id=principal.account_id,
                             role=role, organization_id=organization_id, consent=body.consent)
    return acceptance_out(row)


@router.get("/producers/{producer_id}/acceptances", response_model=list[AcceptanceOut],
            summary="The terms a producer accepted, newest first")
async def producer_acceptances(producer_id: Id, session: Session, principal: CurrentPrincipal):
    access.require_producer_access(principal, producer_id,
                                   organization_id=await access.producer_organization(session, producer_id))
    rows = (await session.execute(select(terms_acceptances).where(terms_acceptances.c.producer_id == producer_id)
                                  .order_by(terms_acceptances.c.id.desc()).limit(200))).all()
    return [acceptance_out(r) for r in rows]
