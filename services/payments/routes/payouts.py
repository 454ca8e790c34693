"""Final settlement of a cycle, organization shares and statements, payout batches."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.common.app import Session
from services.common.auth import CurrentPrincipal, Principal, Role
from services.common.errors import Forbidden
from services.common.money import to_centavos
from services.payments import access, final_settlement, payout_statements, payouts, shares
from services.payments.routes.outputs import bs
from services.payments.schemas import (
    Id,
    IdQuery,
    PayableOut,
    PayoutBatchIn,
    PayoutBatchOut,
    PayoutFailedIn,
    PayoutLineOut,
    PayoutPaidIn,
    PayoutPartOut,
    PayoutRetryIn,
    SettlementOut,
    ShareIn,
    ShareOut,
)

router = APIRouter()


def _orders(request: Request):
    return (request.app.state.clients or {}).get("orders")


async def _may_pay_for(request: Request, session, principal: Principal, cycle_id: int,
                       organization_id: int | None) -> None:
    """The cycle's coordinator (or an admin) pays anyone of the cycle; an organization its members."""
    if principal.role == Role.organization and not principal.is_admin:
        if principal.organization_id is None or principal.organization_id != organization_id:
            raise Forbidden("this payout batch belongs to another organization", code="not_your_batch")
        return
    await access.require_coordinates_cycle(session, principal, cycle_id, orders_client=_orders(request))


def _settlement_out(found: dict) -> SettlementOut:
    return SettlementOut(cycle_id=found["cycle_id"], settled_at=found["settled_at"], payables=[PayableOut(
        producer_id=p.producer_id, organization_id=p.organization_id,
        collected_by_organization=p.collected_by_organization, sales=bs(p.sales), fees=bs(p.fees),
        advance_deduction=bs(p.advance_deduction), share_rate=p.share_rate,
        organization_share=bs(p.organization_share), amount=bs(p.amount), committed=bs(p.committed),
        paid=bs(p.paid)) for p in found["payables"]])


def _line_out(line, parts) -> PayoutLineOut:
    return PayoutLineOut(id=line.id, batch_id=line.batch_id, cycle_id=line.cycle_id, payee_kind=line.payee_kind,
                         payee_id=line.payee_id, method=line.method, bank=line.bank,
                         account_number=line.account_number, wallet_number=line.wallet_number,
                         amount=bs(line.amount), status=line.status, reference=line.reference,
                         received_by=line.received_by, failure_reason=line.failure_reason, retry_of=line.retry_of,
                         parts=[PayoutPartOut(producer_id=p.producer_id, amount=bs(p.amount)) for p in parts])


def _batch_out(found: dict) -> PayoutBatchOut:
    row = found["batch"]
    return PayoutBatchOut(id=row.id, cycle_id=row.cycle_id, organization_id=row.organization_id,
                          created_at=row.created_at, lines=[_line_out(ln, parts) for ln, parts in found["lines"]])


# ---------------------------------------------------------------- final settlement
@router.post("/cycles/{cycle_id}/settlement/final", response_model=SettlementOut, tags=["payouts"],
             summary="Make a cycle's settlement final: each producer's net payable, organization shares (once)")
async def settle_final(cycle_id: Id, session: Session, principal: CurrentPrincipal, request: Request):
    await access.require_coordinates_cycle(session, principal, cycle_id, orders_client=_orders(request))
    return _settlement_out(await final_settlement.settle_cycle(session=session, cycle_id=cycle_id,
                                                               settled_by=principal.account_id))


@router.get("/cycles/{cycle_id}/settlement", response_model=SettlementOut, tags=["payouts"],
            summary="A cycle's final settlement: payables per producer, what is committed and paid")
async def get_settlement(cycle_id: Id, session: Session, principal: CurrentPrincipal, request: Request):
    await access.require_coordinates_cycle(session, principal, cycle_id, orders_client=_orders(request))
    return _settlement_out(await final_settlement.settlement(session=session, cycle_id=cycle_id))


# ---------------------------------------------------------------- organization shares
@router.put("/organizations/{organization_id}/share", response_model=ShareOut, tags=["payouts"],
            summary="Set the organization's commission on its members' sales (the old rate is closed)")
async def put_share(organization_id: Id, body: ShareIn, session: Session, principal: CurrentPrincipal):
    access.require_organization(principal, organization_id)
    row = await shares.set_share(session=session, organization_id=organization_id, rate=body.rate,
                                 collects_for_members=body.collects_for_members, set_by=principal.account_id)
    return ShareOut.model_validate(row, from_attributes=True)


@router.get("/organizations/{organization_id}/shares", response_model=list[ShareOut], tags=["payouts"],
            summary="The organization's rates, newest first")
async def get_shares(organization_id: Id, session: Session, principal: CurrentPrincipal):
    access.require_organization(principal, organization_id)
    return [ShareOut.model_validate(r, from_attributes=True)
            for r in await shares.share_history(session=session, organization_id=organization_id)]


@router.get("/organizations/{organization_id}/statement", tags=["payouts"],
            summary="An organization's statement: its share of each member's sales, payouts received per member")
async def organization_statement(organization_id: Id, session: Session, principal: CurrentPrincipal,
                                 cycle_id: IdQuery | None = None):
    access.require_organization(principal, organization_id)
    return await payout_statements.organization_statement(session=session, organization_id=organization_id,
                                                          cycle_id=cycle_id)


# ---------------------------------------------------------------- payout batches
@router.post("/payout-batches", response_model=PayoutBatchOut, status_code=201, tags=["payouts"],
             summary="Make a payout batch for a cycle: one line per producer or collecting organization")
async def create_batch(body: PayoutBatchIn, session: Session, principal: CurrentPrincipal, request: Request):
    maker_org = principal.organization_id if principal.role == Role.organization and not principal.is_admin else None
    await _may_pay_for(request, session, principal, body.cycle_id, maker_org)
    lines = [payouts.LineRequest(
        payee_kind="producer" if ln.producer_id is not None else "organization",
        payee_id=ln.producer_id if ln.producer_id is not None else ln.organization_id, method=ln.method,
        amount=None if ln.amount is None else to_centavos(ln.amount), bank=ln.bank,
        account_number=ln.account_number, wallet_number=ln.wallet_number) for ln in body.lines]
    batch_id = await payouts.create_batch(session=session, cycle_id=body.cycle_id, lines=lines,
                                          maker=payouts.Maker(account_id=principal.account_id,
                                                              organization_id=maker_org))
    return _batch_out(await payouts.batch(session=session, batch_id=batch_id))


@router.get("/cycles/{cycle_id}/payouts", response_model=list[PayoutLineOut], tags=["payouts"],
            summary="Every payout of a cycle (an organization: those of its own batches), oldest first")
async def cycle_payouts(cycle_id: Id, session: Session, principal: CurrentPrincipal, request: Request):
    maker_org = principal.organization_id if principal.role == Role.organization and not principal.is_admin else None
    await _may_pay_for(request, session, principal, cycle_id, maker_org)
    return [_line_out(ln, parts) for ln, parts in await payouts.cycle_lines(session=session, cycle_id=cycle_id,
                                                                            organization_id=maker_org)]


async def _batch_for(request: Request, session, principal: Principal, batch_id: int) -> dict:
    found = await payouts.batch(session=session, batch_id=batch_id)
    await _may_pay_for(request, session, principal, found["batch"].cycle_id, found["batch"].organization_id)
    return found


@router.get("/payout-batches/{batch_id}", response_model=PayoutBatchOut, tags=["payouts"])
async def get_batch(batch_id: Id, session: Session, principal: CurrentPrincipal, request: Request):
    return _batch_out(await _batch_for(request, session, principal, batch_id))


@router.get("/payout-batches/{batch_id}/export", tags=["payouts"],
            summary="The batch's pending lines as a CSV a bank or wallet imports",
            responses={200: {"content": {"text/csv": {}}}})
async def export_batch(batch_id: Id, session: Session, principal: CurrentPrincipal, request: Request):
    found = await _batch_for(request, session, principal, batch_id)
    return Response(payouts.batch_csv(found), media_type="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="pagos-lote-{batch_id}.csv"'})


async def _line_access(request: Request, session, principal: Principal, payout_id: int) -> None:
    batch = await payouts.batch_of_line(session=session, line_id=payout_id)
    await _may_pay_for(request, session, principal, batch.cycle_id, batch.organization_id)


@router.post("/payouts/{payout_id}/paid", response_model=PayoutLineOut, tags=["payouts"],
             summary="Mark a payout paid with the provider's reference (cash: who received it)")
async def payout_paid(payout_id: Id, body: PayoutPaidIn, session: Session, principal: CurrentPrincipal,
                      request: Request):
    await _line_access(request, session, principal, payout_id)
    line = await payouts.mark_paid(session=session, line_id=payout_id, reference=body.reference,
                                   received_by=body.received_by)
    return _line_out(line, await payouts.line_parts(session=session, line_id=payout_id))


@router.post("/payouts/{payout_id}/failed", response_model=PayoutLineOut, tags=["payouts"],
             summary="Mark a payout failed: its amount is payable again")
async def payout_failed(payout_id: Id, body: PayoutFailedIn, session: Session, principal: CurrentPrincipal,
                        request: Request):
    await _line_access(request, session, principal, payout_id)
    line = await payouts.mark_failed(session=session, line_id=payout_id, reason=body.reason)
    return _line_out(line, await payouts.line_parts(session=session, line_id=payout_id))


@router.post("/payouts/{payout_id}/retry", response_model=PayoutLineOut, status_code=201, tags=["payouts"],
             summary="Pay a failed payout again, as a new line of its batch (new details optional)")
async def payout_retry(payout_id: Id, body: PayoutRetryIn, session: Session, principal: CurrentPrincipal,
                       request: Request):
    await _line_access(request, session, principal, payout_id)
    new_id = await payouts.retry(session=session, line_id=payout_id, method=body.method, bank=body.bank,
                                 account_number=body.account_number, wallet_number=body.wallet_number)
    found = await payouts.batch(session=session, batch_id=(await payouts.batch_of_line(session=session,
                                                                                        line_id=new_id)).id)
    return next(_line_out(ln, parts) for ln, parts in found["lines"] if ln.id == new_id)
