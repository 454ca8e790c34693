"""Consumer payments, refunds, order balances and the payment provider's webhook."""


from fastapi import APIRouter, Request

from services.common.app import Session
from services.common.auth import (
    CurrentPrincipal,
    Principal,
    Role,
)
from services.common.errors import InvalidInput, NotFound
from services.common.money import to_centavos
from services.payments import access, collections, credit
from services.payments.order_book import order_due
from services.payments.routes.deps import Coordinator
from services.payments.routes.outputs import bs, payment_out
from services.payments.schemas import (
    Id,
    OrderBalanceOut,
    PaymentCreate,
    PaymentOut,
    RefundCreate,
    WebhookAnswer,
    WebhookPayment,
)

router = APIRouter()


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
    if created:  # the money already moved: what is above the order's due becomes her saldo a favor
        await credit.bank_order_excess(session=session, order_id=body.order_id)
    return WebhookAnswer(payment=payment_out(payment), replayed=not created)
