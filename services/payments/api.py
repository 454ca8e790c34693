"""HTTP routes of the payments service: thin, they check who is calling and call the rules."""

import logging
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from sqlalchemy import and_, or_, select

from services.common.app import Session
from services.common.auth import (
    CurrentPrincipal,
    MonitoringCaller,
    Principal,
    Role,
    ServiceCaller,
    require_roles,
)
from services.common.errors import Forbidden, InvalidInput, NotFound
from services.common.money import from_centavos, to_centavos
from services.common.pagination import Page, PageParams, make_page, page_params
from services.payments import access, advances, collections, corrections, ledger, reports
from services.payments.models import (
    accounts,
    advance_policies,
    cycles,
    entries,
    funds,
    postings,
    producer_profiles,
    receivables,
)
from services.payments.models import advances as advances_table
from services.payments.order_book import order_due, remember_producer
from services.payments.schemas import (
    AccountEntryOut,
    AccountOut,
    AdvanceCreate,
    AdvanceOut,
    CycleCoordination,
    DecisionIn,
    EligibilityOut,
    EntryCreate,
    EntryOut,
    FinancierCreate,
    FinancierOut,
    FundCreate,
    FundOut,
    Id,
    IdQuery,
    OrderBalanceOut,
    PaymentCreate,
    PaymentOut,
    PlainQuery,
    PolicyCreate,
    PolicyOut,
    ProducerProfileIn,
    ProducerProfileOut,
    ReceivableHold,
    ReceivableOut,
    RefundCreate,
    Report,
    ReversalCreate,
    UncollectibleIn,
    WebhookAnswer,
    WebhookPayment,
)

log = logging.getLogger("mercado.payments")
router = APIRouter()
Admin = Annotated[Principal, Depends(require_roles(Role.admin))]
Coordinator = Annotated[Principal, Depends(require_roles(Role.coordinator))]
Financier = Annotated[Principal, Depends(require_roles(Role.financier))]
Producer = Annotated[Principal, Depends(require_roles(Role.producer))]


def bs(centavos: int | None):
    return None if centavos is None else from_centavos(int(centavos))


def account_out(row) -> AccountOut:
    return AccountOut(id=row.id, code=row.code, kind=row.kind, owner_id=row.owner_id, name=row.name,
                      normal_side=row.normal_side, may_go_negative=row.may_go_negative,
                      balance=bs(ledger.normal_balance(row)))


def payment_out(row) -> PaymentOut:
    return PaymentOut(id=row.id, client_id=row.client_id, order_id=row.order_id, kind=row.kind, method=row.method,
                      amount=bs(row.amount), source=row.source, reference=row.reference,
                      received_at=row.received_at, entry_id=row.entry_id)


def advance_out(row) -> AdvanceOut:
    outstanding = 0 if row.status in ("rejected", "requested", "approved") else (
        row.principal + row.fee - row.principal_repaid - row.fee_repaid)
    return AdvanceOut(
        id=row.id, producer_id=row.producer_id, financier_id=row.financier_id, fund_id=row.fund_id,
        policy_id=row.policy_id, status=row.status, eligible_value=bs(row.eligible_value),
        principal=bs(row.principal), fee=bs(row.fee), principal_repaid=bs(row.principal_repaid),
        fee_repaid=bs(row.fee_repaid), outstanding=bs(outstanding), expected_collection_on=row.expected_collection_on,
        auto_approved=row.auto_approved, receivable_ids=list(row.receivable_ids), reason=row.reason,
        requested_at=row.requested_at, disbursed_at=row.disbursed_at)


def receivable_out(row) -> ReceivableOut:
    return ReceivableOut(id=row.id, consignment_id=row.consignment_id, cycle_id=row.cycle_id,
                         accepted_value=bs(row.accepted_value), fees=bs(row.fees), amount=bs(row.amount),
                         collected=bs(row.collected), status=row.status, advance_id=row.advance_id,
                         expected_collection_on=row.expected_collection_on)


def policy_out(row) -> PolicyOut:
    return PolicyOut(id=row.id, financier_id=row.financier_id, fund_id=row.fund_id, name=row.name,
                     advance_rate=row.advance_rate, fee_kind=row.fee_kind, fee_value=row.fee_value,
                     min_amount=bs(row.min_amount), max_amount=bs(row.max_amount),
                     producer_limit=bs(row.producer_limit), auto_approve_up_to=bs(row.auto_approve_up_to),
                     active=row.active)


def fund_out(row) -> FundOut:
    return FundOut(id=row.id, financier_id=row.financier_id, name=row.name, cap=bs(row.cap),
                   outstanding_principal=bs(row.outstanding_principal), account_id=row.account_id)


async def entry_out(session, entry_id: int) -> EntryOut:
    found = await ledger.entry_with_postings(session=session, entry_id=entry_id)
    e = found["entry"]
    return EntryOut(id=e.id, client_id=e.client_id, kind=e.kind, description=e.description, currency=e.currency,
                    reverses_entry_id=e.reverses_entry_id, created_at=e.created_at,
                    postings=[{"account_id": p.account_id, "account_code": p.code, "amount": bs(p.amount)}
                              for p in found["postings"]])


# ---------------------------------------------------------------- ledger
@router.get("/accounts", response_model=list[AccountOut], tags=["ledger"], summary="My accounts")
async def my_accounts(session: Session, principal: CurrentPrincipal):
    k = ledger.AccountKind
    conditions = []
    if principal.role == Role.consumer:
        conditions.append(and_(accounts.c.kind == k.consumer, accounts.c.owner_id == principal.account_id))
    if principal.producer_id is not None:
        conditions.append(and_(accounts.c.kind.in_((k.producer, k.producer_advances)),
                               accounts.c.owner_id == principal.producer_id))
    if principal.financier_id is not None:
        conditions.append(and_(accounts.c.kind.in_((k.financier_capital, k.financier_fees)),
                               accounts.c.owner_id == principal.financier_id))
        conditions.append(accounts.c.id.in_(select(funds.c.account_id)
                                            .where(funds.c.financier_id == principal.financier_id)))
    if principal.is_admin:
        conditions = [accounts.c.id.is_not(None)]
    if not conditions:
        return []
    rows = (await session.execute(select(accounts).where(or_(*conditions)).order_by(accounts.c.id).limit(500))).all()
    return [account_out(r) for r in rows]


@router.get("/accounts/{account_id}", response_model=AccountOut, tags=["ledger"])
async def get_account(account_id: Id, session: Session, principal: CurrentPrincipal):
    row = await ledger.account_by_id(session=session, account_id=account_id)
    await access.require_account_access(session, principal, row)
    return account_out(row)


@router.get("/accounts/{account_id}/entries", response_model=Page[AccountEntryOut], tags=["ledger"])
async def account_entries(account_id: Id, session: Session, principal: CurrentPrincipal,
                          page: Annotated[PageParams, Depends(page_params)]):
    row = await ledger.account_by_id(session=session, account_id=account_id)
    await access.require_account_access(session, principal, row)
    query = (select(entries.c.id, entries.c.client_id, entries.c.kind, entries.c.description, entries.c.created_at,
                    postings.c.id.label("posting_id"), postings.c.amount)
             .join(postings, postings.c.entry_id == entries.c.id).where(postings.c.account_id == account_id))
    if page.cursor:
        try:
            query = query.where(postings.c.id < int(page.cursor[0]))
        except (TypeError, ValueError, IndexError):
            raise InvalidInput("cursor is not valid", code="invalid_cursor") from None
    rows = (await session.execute(query.order_by(postings.c.id.desc()).limit(page.limit + 1))).all()
    rows, cursor = make_page(rows, page.limit, lambda r: [r.posting_id])
    sign = 1 if row.normal_side == "debit" else -1
    return Page(items=[AccountEntryOut(entry_id=r.id, client_id=r.client_id, kind=r.kind, description=r.description,
                                       created_at=r.created_at, amount=bs(sign * r.amount)) for r in rows],
                next_cursor=cursor)


@router.get("/entries/{entry_id}", response_model=EntryOut, tags=["ledger"])
async def get_entry(entry_id: Id, session: Session, _: Admin):
    return await entry_out(session, entry_id)


@router.post("/entries", response_model=EntryOut, status_code=201, tags=["ledger"],
             summary="Post a manual balanced entry (a repeated client_id returns the first entry)")
async def create_entry(body: EntryCreate, session: Session, _: Admin):
    for p in body.postings:
        await ledger.account_by_id(session=session, account_id=p.account_id)
    posted = await ledger.post_entry(
        session=session, client_id=f"manual:{body.client_id}", kind="manual", description=body.description,
        lines=[ledger.Posting(p.account_id, to_centavos(p.amount)) for p in body.postings])
    return await entry_out(session, posted.id)


@router.post("/entries/{entry_id}/reverse", response_model=EntryOut, status_code=201, tags=["ledger"])
async def reverse(entry_id: Id, body: ReversalCreate, session: Session, _: Admin):
    posted = await ledger.reverse_entry(session=session, entry_id=entry_id, client_id=f"reversal:{body.client_id}",
                                        reason=body.reason)
    return await entry_out(session, posted.id)


# ---------------------------------------------------------------- consumer payments
async def coordinator_check(request: Request, session, principal: Principal, order_id: int) -> None:
    clients = request.app.state.clients or {}
    await access.require_cycle_coordinator(session, principal, order_id, orders_client=clients.get("orders"))


@router.post("/payments", response_model=PaymentOut, status_code=201, tags=["payments"],
             summary="Record a consumer payment (cash at pickup, QR, bank transfer); partial payments welcome")
async def create_payment(body: PaymentCreate, session: Session, principal: Coordinator, request: Request):
    await coordinator_check(request, session, principal, body.order_id)
    payment, _ = await collections.record_payment(
        session=session, order_id=body.order_id, amount=to_centavos(body.amount), method=body.method,
        client_id=body.client_id and f"coordinator:{body.client_id}", source="coordinator",
        recorded_by=principal.account_id, reference=body.reference)
    return payment_out(payment)


@router.post("/refunds", response_model=PaymentOut, status_code=201, tags=["payments"],
             summary="Pay back a consumer's credit on an order (cancellation, short delivery)")
async def create_refund(body: RefundCreate, session: Session, principal: Coordinator, request: Request):
    await coordinator_check(request, session, principal, body.order_id)
    refund, _ = await collections.record_refund(
        session=session, order_id=body.order_id, amount=to_centavos(body.amount), method=body.method,
        client_id=body.client_id and f"coordinator:{body.client_id}", recorded_by=principal.account_id,
        reference=body.reference)
    return payment_out(refund)


@router.get("/orders/{order_id}/balance", response_model=OrderBalanceOut, tags=["payments"])
async def order_balance(order_id: Id, session: Session, principal: CurrentPrincipal, request: Request):
    state = await order_due(session=session, order_id=order_id)
    if not state:
        raise NotFound(f"order {order_id} is not known to payments yet", code="order_not_found")
    order = state["order"]
    if not (principal.role == Role.consumer and principal.account_id == order.consumer_account_id):
        await coordinator_check(request, session, principal, order_id)
    return OrderBalanceOut(order_id=order_id, cycle_id=order.cycle_id, status=order.status, cost=bs(state["cost"]),
                           paid=bs(state["paid"]), refunded=bs(state["refunded"]), due=bs(state["due"]))


@router.post("/webhooks/payments", response_model=WebhookAnswer, tags=["payments"],
             summary="Payment provider callback: HMAC-SHA256 signed, replay-safe by provider event id")
async def provider_webhook(request: Request, session: Session):
    settings = request.app.state.settings
    raw = await request.body()
    collections.verify_webhook(secret=settings.webhook_secret, timestamp=request.headers.get("x-webhook-timestamp"),
                               signature=request.headers.get("x-webhook-signature"), body=raw)
    try:
        body = WebhookPayment.model_validate_json(raw)
    except ValueError as exc:
        raise InvalidInput(f"webhook body is not a valid payment notice: {exc}"[:400], code="invalid_webhook") from None
    payment, created = await collections.record_provider_payment(
        session=session, provider=settings.webhook_provider, event_id=body.event_id, order_id=body.order_id,
        amount=to_centavos(body.amount), method=body.method, reference=body.reference, paid_at=body.paid_at)
    return WebhookAnswer(payment=payment_out(payment), replayed=not created)


# ---------------------------------------------------------------- cycles, producers, receivables
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
    return [advance_out(r) for r in await reports.producer_history(session=session, producer_id=producer_id)]


@router.post("/internal/receivables/hold", response_model=ReceivableOut, tags=["internal"],
             summary="Hold a receivable while delivery corrects its receipt (409 once an advance was drawn on it)")
async def hold_receivable(body: ReceivableHold, session: Session, _: ServiceCaller):
    return receivable_out(await corrections.hold_for_correction(session=session, consignment_id=body.consignment_id,
                                                                correction_id=body.correction_id))


@router.post("/receivables/{receivable_id}/uncollectible", response_model=ReceivableOut, tags=["pronto pago"],
             summary="Declare a receivable uncollectible: an unpaid advance on it stays the producer's debt")
async def uncollectible(receivable_id: Id, body: UncollectibleIn, session: Session, _: Admin):
    return receivable_out(await advances.declare_uncollectible(session=session, receivable_id=receivable_id,
                                                               reason=body.reason))


# ---------------------------------------------------------------- financiers, funds, policies
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
                                             cap=to_centavos(body.cap)))


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


# ---------------------------------------------------------------- advances
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


@router.post("/advances", response_model=AdvanceOut, status_code=201, tags=["pronto pago"],
             summary="Ask for an advance, for an amount or on chosen receivables")
async def request_advance(body: AdvanceCreate, session: Session, principal: CurrentPrincipal, request: Request):
    access.require_producer_access(principal, body.producer_id)
    await complete_profile_from_catalog(request, session, body.producer_id)
    row = await advances.request_advance(
        session=session, producer_id=body.producer_id, policy_id=body.policy_id,
        amount=None if body.amount is None else to_centavos(body.amount), receivable_ids=body.receivable_ids)
    return advance_out(row)


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
    return [advance_out(r) for r in (await session.execute(query)).all()]


@router.get("/advances/{advance_id}", response_model=AdvanceOut, tags=["pronto pago"])
async def get_advance(advance_id: Id, session: Session, principal: CurrentPrincipal):
    row = await advances.advance(session=session, advance_id=advance_id)
    if principal.role == Role.financier:
        access.require_financier(principal, row.financier_id)
    else:
        access.require_producer_access(principal, row.producer_id)
    return advance_out(row)


@router.post("/advances/{advance_id}/approve", response_model=AdvanceOut, tags=["pronto pago"])
async def approve(advance_id: Id, session: Session, principal: CurrentPrincipal):
    return advance_out(await advances.approve_advance(session=session, advance_id=advance_id,
                                                      financier_id=access.acting_financier(principal)))


@router.post("/advances/{advance_id}/disburse", response_model=AdvanceOut, tags=["pronto pago"])
async def disburse(advance_id: Id, session: Session, principal: CurrentPrincipal):
    return advance_out(await advances.disburse_advance(session=session, advance_id=advance_id,
                                                       financier_id=access.acting_financier(principal)))


@router.post("/advances/{advance_id}/reject", response_model=AdvanceOut, tags=["pronto pago"])
async def reject(advance_id: Id, body: DecisionIn, session: Session, principal: CurrentPrincipal):
    return advance_out(await advances.reject_advance(session=session, advance_id=advance_id,
                                                     financier_id=access.acting_financier(principal),
                                                     reason=body.reason))


# ---------------------------------------------------------------- monitoring
@router.get("/stats/advances", response_model=Report, tags=["monitoring"],
            summary="Advance counts, value, fees and women's share; no personal data")
async def advance_stats(session: Session, caller: MonitoringCaller,
                        municipality: Annotated[str | None, Query(max_length=16, pattern=PlainQuery)] = None,
                        date_from: Annotated[date | None, Query(alias="from")] = None,
                        date_to: Annotated[date | None, Query(alias="to")] = None):
    return await reports.advance_statistics(session=session, municipality_code=municipality,
                                            date_from=date_from, date_to=date_to, caller=caller)
