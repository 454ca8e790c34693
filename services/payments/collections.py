"""Consumer payments (cash at pickup, QR, bank transfer), refunds, and the provider webhook.

A payment debits the clearing account of its method and credits the consumer. It is allocated to
the order's lines in line order, each up to what the line is worth now (its accepted value once
delivered), then to the order's fees; the rest stays as the consumer's credit. Money allocated to a
delivered line is collected for that line's producer receivable, and collections of an advanced
receivable repay the financier first (services.payments.advances.repay_from_collection).
"""

import hashlib
import hmac
import time
import uuid
from datetime import datetime

from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from services.common.events import emit
from services.common.money import from_centavos
from services.common.tables import utcnow
from services.payments.advances import repay_from_collection, settle_producer_debts
from services.payments.ledger import CLEARING_BY_METHOD, AccountKind, Posting, ensure_account, post_entry
from services.payments.models import consumer_payments, kernel, order_lines, receivables
from services.payments.order_book import order_due

WEBHOOK_TOLERANCE_SECONDS = 300
CREDIT_METHOD = "credito"  # a payment from the consumer's saldo a favor (services/payments/credit.py)


async def record_payment(*, session: AsyncSession, order_id: int, amount: int, method: str, client_id: str | None,
                         source: str, recorded_by: int | None = None, provider: str | None = None,
                         provider_event_id: str | None = None, reference: str | None = None,
                         received_at: datetime | None = None, allow_overpayment: bool = False):
    """Record one consumer payment (partial payments welcome); a repeated client id changes nothing."""
    if method not in CLEARING_BY_METHOD and method != CREDIT_METHOD:
        raise InvalidInput(f"unknown method {method!r}; use cash, qr or transfer", code="invalid_method")
    if amount <= 0:
        raise InvalidInput("a payment amount must be positive", code="invalid_amount")
    client_id = client_id or f"payment:{uuid.uuid4()}"
    existing = await _payment_by_client_id(session, client_id)
    if existing is not None:
        return existing, False
    state = await order_due(session=session, order_id=order_id, lock=True)
    if not state:
        raise NotFound(f"order {order_id} is not known to payments yet", code="order_not_found")
    if state["order"].status == "cancelled" and not allow_overpayment:
        raise Conflict(f"order {order_id} was cancelled; nothing is due", code="order_cancelled")
    if amount > state["due"] and not allow_overpayment:
        raise Conflict(f"the payment exceeds what is due on order {order_id}",
                       code="overpayment", details={"due": str(from_centavos(max(state["due"], 0)))})
    order = state["order"]
    if method == CREDIT_METHOD:  # her saldo a favor pays: the ledger refuses more than she holds
        clearing = await ensure_account(session=session, kind=AccountKind.consumer_credit,
                                        owner_id=order.consumer_account_id)
    else:
        clearing = await ensure_account(session=session, kind=CLEARING_BY_METHOD[method])
    consumer = await ensure_account(session=session, kind=AccountKind.consumer, owner_id=order.consumer_account_id)
    posted = await post_entry(session=session, client_id=f"payment:{client_id}"[:160], kind="consumer_payment",
                              description=f"Pago del pedido {order_id} ({method})", cycle_id=order.cycle_id,
                              ref=f"order:{order_id}", lines=[Posting(clearing, amount), Posting(consumer, -amount)])
    if not posted.created:  # a concurrent request with this client id committed first
        return await _payment_by_client_id(session, client_id), False
    received_at = received_at or utcnow()
    await session.execute(consumer_payments.insert().values(
        client_id=client_id, order_id=order_id, kind="payment", method=method, amount=amount, source=source,
        provider=provider, provider_event_id=provider_event_id, reference=reference, recorded_by=recorded_by,
        received_at=received_at, entry_id=posted.id))
    touched = await _allocate(session=session, lines=state["lines"], amount=amount)
    # money from her credit is already the platform's: no clearing account to repay an advance from
    await refresh_collected(session=session, receivable_ids=touched,
                            method=None if method == CREDIT_METHOD else method, source=client_id)
    payment = await _payment_by_client_id(session, client_id)
    await emit(session, kernel, event_type="payment.received", aggregate_id=payment.id, payload={
        "payment_id": payment.id, "order_id": order_id, "cycle_id": order.cycle_id,
        "amount": str(from_centavos(amount)), "method": method, "received_at": received_at.isoformat()})
    return payment, True


async def record_refund(*, session: AsyncSession, order_id: int, amount: int, method: str, client_id: str | None,
                        recorded_by: int | None = None, reference: str | None = None):
    """Pay back what a consumer paid beyond what her order now costs (cancellation, short delivery)."""
    if method not in CLEARING_BY_METHOD:
        raise InvalidInput(f"unknown method {method!r}; use cash, qr or transfer", code="invalid_method")
    client_id = client_id or f"refund:{uuid.uuid4()}"
    existing = await _payment_by_client_id(session, client_id)
    if existing is not None:
        return existing, False
    state = await order_due(session=session, order_id=order_id, lock=True)
    if not state:
        raise NotFound(f"order {order_id} is not known to payments yet", code="order_not_found")
    credit = -state["due"]
    if amount <= 0 or amount > credit:
        raise Conflict(f"order {order_id} has {from_centavos(max(credit, 0))} Bs to refund; asked {from_centavos(amount)}",
                       code="refund_exceeds_credit", details={"refundable": str(from_centavos(max(credit, 0)))})
    clearing = await ensure_account(session=session, kind=CLEARING_BY_METHOD[method])
    refund, created = await take_back(session=session, state=state, amount=amount, counter_account=clearing,
                                      method=method, client_id=client_id, source="coordinator",
                                      description=f"Devolución del pedido {order_id} ({method})",
                                      recorded_by=recorded_by, reference=reference)
    if created:
        await emit_refunded(session=session, refund_id=refund.id, order_id=order_id, cycle_id=state["order"].cycle_id,
                            consumer_account_id=state["order"].consumer_account_id, amount=amount, method=method,
                            at=refund.received_at)
    return refund, created


async def take_back(*, session: AsyncSession, state: dict, amount: int, counter_account: int, method: str,
                    client_id: str, source: str, description: str, recorded_by: int | None = None,
                    reference: str | None = None):
    """Take `amount` of an order's excess payment off the order (a `refund` row, so the order owes
    and holds nothing more) to `counter_account`: a clearing account (money paid back) or her credit.
    `state` is `order_due(..., lock=True)`; the caller checked the amount."""
    order = state["order"]
    consumer = await ensure_account(session=session, kind=AccountKind.consumer, owner_id=order.consumer_account_id)
    posted = await post_entry(session=session, client_id=f"refund:{client_id}"[:160], kind="consumer_refund",
                              description=description, cycle_id=order.cycle_id, ref=f"order:{order.order_id}",
                              lines=[Posting(consumer, amount), Posting(counter_account, -amount)])
    if not posted.created:  # a concurrent request with this client id committed first
        return await _payment_by_client_id(session, client_id), False
    await session.execute(consumer_payments.insert().values(
        client_id=client_id, order_id=order.order_id, kind="refund", method=method, amount=amount, source=source,
        reference=reference, recorded_by=recorded_by, received_at=utcnow(), entry_id=posted.id))
    await _release_excess(session=session, lines=state["lines"], amount=amount)
    return await _payment_by_client_id(session, client_id), True


async def emit_refunded(*, session: AsyncSession, refund_id: int, order_id: int | None, cycle_id: int | None,
                        consumer_account_id: int, amount: int, method: str, at: datetime) -> None:
    """`payment.refunded`: money went back to a consumer (for an order, or from her credit)."""
    await emit(session, kernel, event_type="payment.refunded", aggregate_id=f"{'order' if order_id else 'credit'}:"
               f"{refund_id}", payload={
                   "payment_id": refund_id, "order_id": order_id, "cycle_id": cycle_id,
                   "consumer_account_id": consumer_account_id, "amount": str(from_centavos(amount)),
                   "method": method, "refunded_at": at.isoformat()})


async def _payment_by_client_id(session: AsyncSession, client_id: str):
    return (await session.execute(select(consumer_payments).where(consumer_payments.c.client_id == client_id))
            ).one_or_none()


def _worth(line) -> int:
    if line.cancelled:
        return 0
    return line.accepted_value if line.accepted_value is not None else line.line_total


async def _allocate(*, session: AsyncSession, lines, amount: int) -> list[int]:
    """Spread a payment over the order's lines in line order; returns the receivables it reached."""
    touched = []
    left = amount
    for line in lines:
        room = _worth(line) - line.paid
        if left <= 0 or room <= 0:
            continue
        share = min(room, left)
        left -= share
        await session.execute(update(order_lines).where(order_lines.c.line_id == line.line_id)
                              .values(paid=order_lines.c.paid + share))
        if line.receivable_id is not None:
            touched.append(line.receivable_id)
    return sorted(set(touched))


async def _release_excess(*, session: AsyncSession, lines, amount: int) -> None:
    """A refund takes back money allocated beyond a line's worth, last lines first."""
    left = amount
    for line in reversed(lines):
        excess = line.paid - _worth(line)
        if left <= 0 or excess <= 0:
            continue
        take = min(excess, left)
        left -= take
        await session.execute(update(order_lines).where(order_lines.c.line_id == line.line_id)
                              .values(paid=order_lines.c.paid - take))


async def refresh_collected(*, session: AsyncSession, receivable_ids: list[int], method: str | None,
                            source: str) -> None:
    """Recompute what consumers paid towards each receivable; repay its advance from the new money."""

    for receivable_id in sorted(set(receivable_ids)):
        row = (await session.execute(select(receivables).where(receivables.c.id == receivable_id))).one()
        collected = (await session.execute(
            select(func.coalesce(func.sum(_least(order_lines.c.paid, order_lines.c.accepted_value)), 0))
            .where(order_lines.c.receivable_id == receivable_id))).scalar_one()
        collected = int(collected)
        if collected == row.collected:
            continue
        status = row.status
        if status == "open" and collected >= row.accepted_value:
            status = "collected"
        await session.execute(update(receivables).where(receivables.c.id == receivable_id)
                              .values(collected=collected, status=status))
        newly_net = min(row.amount, collected) - min(row.amount, row.collected)
        if newly_net <= 0 or method is None:
            continue
        if row.advance_id is not None:
            newly_net -= await repay_from_collection(session=session, advance_id=row.advance_id,
                                                     available=newly_net, method=method,
                                                     client_id=f"repay:{source}:{receivable_id}",
                                                     cycle_id=row.cycle_id)
        if newly_net > 0:
            await settle_producer_debts(session=session, producer_id=row.producer_id, available=newly_net,
                                        method=method, source=f"{source}:{receivable_id}", cycle_id=row.cycle_id)


def _least(a, b):
    return case((a < b, a), else_=b)


# ---------------------------------------------------------------- provider webhook
def sign_webhook(*, secret: str, timestamp: str, body: bytes) -> str:
    """The signature a provider sends: hex HMAC-SHA256 of `timestamp.body` with the shared secret."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify_webhook(*, secret: str, timestamp: str | None, signature: str | None, body: bytes,
                   now: float | None = None) -> None:
    if not timestamp or not signature:
        raise Unauthorized("webhook needs X-Webhook-Timestamp and X-Webhook-Signature headers",
                           code="webhook_unsigned")
    try:
        ts = int(timestamp)
    except ValueError:
        raise Unauthorized("X-Webhook-Timestamp must be Unix seconds", code="webhook_bad_timestamp") from None
    if abs((now or time.time()) - ts) > WEBHOOK_TOLERANCE_SECONDS:
        raise Unauthorized("webhook timestamp is too old or in the future (5 minutes tolerance)",
                           code="webhook_stale")
    expected = sign_webhook(secret=secret, timestamp=timestamp, body=body)
    given = signature.removeprefix("sha256=")
    if not hmac.compare_digest(expected.encode(), given.encode("utf-8", "surrogateescape")):
        raise Forbidden("webhook signature does not match", code="webhook_bad_signature")


async def record_provider_payment(*, session: AsyncSession, provider: str, event_id: str, order_id: int,
                                  amount: int, method: str, reference: str | None, paid_at: datetime | None):
    """A payment reported by a provider; the provider's event id makes a replay change nothing."""
    existing = (await session.execute(select(consumer_payments).where(
        consumer_payments.c.provider == provider, consumer_payments.c.provider_event_id == event_id))).one_or_none()
    if existing is not None:
        return existing, False
    if method not in ("qr", "transfer"):
        raise InvalidInput("providers report qr or transfer payments", code="invalid_method")
    # the money already moved: a provider payment above what is due stays as the consumer's credit
    return await record_payment(session=session, order_id=order_id, amount=amount, method=method,
                                client_id=f"{provider}:{event_id}"[:160], source="webhook", provider=provider,
                                provider_event_id=event_id, reference=reference, received_at=paid_at,
                                allow_overpayment=True)
