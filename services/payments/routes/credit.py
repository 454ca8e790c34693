"""Consumer credit (saldo a favor, services/payments/credit.py): she reads it, spends it on her
orders and asks for it back; an administrator pays it back."""

from typing import Literal

from fastapi import APIRouter

from services.common.app import Session
from services.common.auth import CurrentPrincipal
from services.common.money import to_centavos
from services.payments import credit
from services.payments.routes.deps import Admin
from services.payments.routes.outputs import bs, payment_out
from services.payments.schemas import (
    CreditMovementOut,
    CreditOut,
    CreditRefund,
    CreditRefundRequestIn,
    CreditRefundRequestOut,
    CreditSpend,
    Id,
    PaymentOut,
)

router = APIRouter(tags=["consumer credit"])


def credit_out(found: dict) -> CreditOut:
    request = found.get("refund_request")
    return CreditOut(consumer_account_id=found["consumer_account_id"], balance=bs(found["balance"]),
                     movements=[movement_out(m) for m in found["movements"]],
                     refund_request=request_out(request) if request else None)


def request_out(row: dict) -> CreditRefundRequestOut:
    return CreditRefundRequestOut(id=row["id"], consumer_account_id=row["consumer_account_id"],
                                  amount=bs(row["amount"]), method=row["method"], status=row["status"],
                                  movement_id=row["movement_id"], created_at=row["created_at"])


def movement_out(row: dict) -> CreditMovementOut:
    return CreditMovementOut(id=row["id"], kind=row["kind"], amount=bs(row["amount"]), order_id=row["order_id"],
                             method=row["method"], created_at=row["created_at"])


@router.get("/credit/{consumer_account_id}", response_model=CreditOut,
            summary="A consumer's saldo a favor and its latest movements (herself or an admin)")
async def get_credit(consumer_account_id: Id, session: Session, principal: CurrentPrincipal):
    credit.require_own_credit(principal, consumer_account_id)
    return credit_out(await credit.statement(session=session, consumer_account_id=consumer_account_id))


@router.post("/credit/{consumer_account_id}/spend", response_model=PaymentOut, status_code=201,
             summary="Pay one of her orders with her saldo a favor (payment method credito)")
async def spend(consumer_account_id: Id, body: CreditSpend, session: Session, principal: CurrentPrincipal):
    payment, _ = await credit.spend_credit(
        session=session, principal=principal, consumer_account_id=consumer_account_id, order_id=body.order_id,
        amount=to_centavos(body.amount) if body.amount is not None else None, client_id=body.client_id)
    return payment_out(payment)


@router.post("/credit/{consumer_account_id}/refunds", response_model=CreditMovementOut, status_code=201,
             summary="Pay back (part of) a consumer's saldo a favor in cash, QR or transfer (admins)")
async def refund(consumer_account_id: Id, body: CreditRefund, session: Session, principal: Admin):
    return movement_out(await credit.refund_credit(
        session=session, consumer_account_id=consumer_account_id,
        amount=to_centavos(body.amount) if body.amount is not None else None, method=body.method,
        client_id=body.client_id, recorded_by=principal.account_id, request_id=body.request_id))


@router.post("/credit/{consumer_account_id}/refund-requests", response_model=CreditRefundRequestOut,
             status_code=201, summary="Ask for (part of) her saldo a favor back; an administrator pays it")
async def ask_refund(consumer_account_id: Id, body: CreditRefundRequestIn, session: Session,
                     principal: CurrentPrincipal):
    return request_out(await credit.request_refund(
        session=session, principal=principal, consumer_account_id=consumer_account_id,
        amount=to_centavos(body.amount) if body.amount is not None else None, method=body.method))


@router.get("/credit-refund-requests", response_model=list[CreditRefundRequestOut],
            summary="Consumers' refund requests, oldest first (admins)")
async def list_refund_requests(session: Session, _: Admin, status: Literal["pending", "paid"] | None = "pending"):
    return [request_out(r) for r in await credit.refund_requests(session=session, status=status)]
