"""Consumer credit (saldo a favor): what a consumer paid beyond what her orders now cost, kept for her
to spend on her next order (payment method `credito`) or to be paid back.

Money rules, each one balanced entry in the ledger and one row in `credit_movements`:
1. **Banked.** Whenever an order's payments exceed what it now costs — a cancellation after payment,
   a short delivery credited at receipt (or at its correction), a provider payment above the due — the excess leaves
   the order (a `refund` of method `credito`, so the order owes and holds nothing more) and goes to
   her `consumer_credit` account: consumer (debit) / consumer_credit (credit). The entry's client id
   names the order and what it had refunded before, so an event applied again banks nothing twice.
2. **Spent.** A payment of method `credito` on one of her placed orders, at most what it still owes:
   consumer_credit (debit) / consumer (credit); allocated to the order's lines like any payment.
3. **Refunded.** She asks for it back (a pending refund request, the way she wants it); an
   administrator hands it back (cash, QR or transfer), paying her request or on his own:
   consumer_credit (debit) / the method's clearing account (credit); `payment.refunded` tells her.

Never negative: `consumer_credit` is not designated to go negative, so the ledger refuses an entry
that would take more than the balance, deciding under the account's row lock (PostgreSQL; SQLite
serialises writers): of two spends racing for the same credit, the second is refused (409
`insufficient_credit`), never both paid.
"""

import uuid

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal, Role
from services.common.errors import Conflict, Forbidden, InvalidInput, NotFound
from services.common.money import from_centavos
from services.common.tables import utcnow
from services.payments import corrections, order_book, settlement
from services.payments.collections import CREDIT_METHOD, emit_refunded, record_payment, take_back
from services.payments.ledger import (
    CLEARING_BY_METHOD,
    AccountKind,
    Posting,
    ensure_account,
    normal_balance,
    post_entry,
)
from services.payments.models import (
    accounts,
    credit_movements,
    credit_refund_requests,
    order_lines,
    receivables,
)
from services.payments.order_book import order_due


def require_own_credit(principal: Principal, consumer_account_id: int) -> None:
    """A consumer sees and spends only her own credit; administrators any."""
    if principal.is_admin:
        return
    if principal.role != Role.consumer or principal.account_id != consumer_account_id:
        raise Forbidden("this credit belongs to another consumer", code="not_your_credit")


async def credit_balance(*, session: AsyncSession, consumer_account_id: int) -> int:
    """Her saldo a favor in centavos (0 before she ever had one)."""
    row = (await session.execute(select(accounts).where(
        accounts.c.code == f"{AccountKind.consumer_credit.value}:{consumer_account_id}"))).one_or_none()
    return normal_balance(row) if row is not None else 0


async def _movement(session: AsyncSession, **values) -> None:
    await session.execute(insert(credit_movements).values(created_at=utcnow(), **values))


async def bank_order_excess(*, session: AsyncSession, order_id: int) -> int:
    """Rule 1: move what the order holds beyond its cost to her credit; returns the centavos banked."""
    state = await order_due(session=session, order_id=order_id, lock=True)
    if not state or state["due"] >= 0:
        return 0
    excess, order = -state["due"], state["order"]
    credit = await ensure_account(session=session, kind=AccountKind.consumer_credit,
                                  owner_id=order.consumer_account_id, name=f"Saldo a favor {order.consumer_account_id}")
    client_id = f"credit:order:{order_id}:after:{state['refunded']}"
    row, created = await take_back(session=session, state=state, amount=excess, counter_account=credit,
                                   method=CREDIT_METHOD, client_id=client_id, source="credit",
                                   description=f"Saldo a favor del pedido {order_id}")
    if not created:
        return 0
    await _movement(session, client_id=client_id, consumer_account_id=order.consumer_account_id, kind="banked",
                    amount=excess, order_id=order_id, entry_id=row.entry_id)
    return excess


async def spend_credit(*, session: AsyncSession, principal: Principal, consumer_account_id: int, order_id: int,
                       amount: int | None, client_id: str | None):
    """Rule 2: pay (part of) one of her orders with her credit; `amount` None pays as much as both
    her credit and the order allow. Returns (payment row, created)."""
    require_own_credit(principal, consumer_account_id)
    state = await order_due(session=session, order_id=order_id)
    if not state or state["order"].consumer_account_id != consumer_account_id:
        raise NotFound(f"order {order_id} is not one of this consumer's orders known to payments",
                       code="order_not_found")
    if state["order"].status == "cancelled":
        raise Conflict(f"order {order_id} was cancelled; nothing is due", code="order_cancelled")
    balance = await credit_balance(session=session, consumer_account_id=consumer_account_id)
    if amount is None:
        amount = min(balance, state["due"])
        if amount <= 0:
            raise Conflict("nothing to pay with credit: the order owes nothing or the credit is empty",
                           code="nothing_to_pay", details={"credit": str(from_centavos(balance)),
                                                           "due": str(from_centavos(max(state["due"], 0)))})
    client_id = f"credit:{client_id or uuid.uuid4()}"
    try:
        payment, created = await record_payment(session=session, order_id=order_id, amount=amount,
                                                method=CREDIT_METHOD, client_id=client_id, source="consumer",
                                                recorded_by=principal.account_id)
    except Conflict as exc:
        if exc.code != "insufficient_balance":
            raise
        raise Conflict(f"the credit holds {from_centavos(balance)} Bs; asked {from_centavos(amount)}",
                       code="insufficient_credit", details={"credit": str(from_centavos(balance))}) from None
    if created:
        await _movement(session, client_id=client_id, consumer_account_id=consumer_account_id, kind="spent",
                        amount=amount, order_id=order_id, entry_id=payment.entry_id,
                        recorded_by=principal.account_id)
    return payment, created


async def request_refund(*, session: AsyncSession, principal: Principal, consumer_account_id: int,
                         amount: int | None, method: str) -> dict:
    """She asks for (part of) her credit back, the way she wants it; an administrator pays it (rule 3).
    One request waits at a time; `amount` None asks for all of it."""
    require_own_credit(principal, consumer_account_id)
    if method not in CLEARING_BY_METHOD:
        raise InvalidInput(f"unknown method {method!r}; use cash, qr or transfer", code="invalid_method")
    waiting = await pending_request(session=session, consumer_account_id=consumer_account_id)
    if waiting is not None:
        raise Conflict("a refund of this credit was already asked for and waits to be paid",
                       code="refund_already_requested", details={"request_id": waiting["id"]})
    balance = await credit_balance(session=session, consumer_account_id=consumer_account_id)
    amount = balance if amount is None else amount
    if amount <= 0 or amount > balance:
        raise Conflict(f"the credit holds {from_centavos(balance)} Bs; asked {from_centavos(max(amount, 0))}",
                       code="insufficient_credit", details={"credit": str(from_centavos(balance))})
    request_id = (await session.execute(insert(credit_refund_requests).values(
        consumer_account_id=consumer_account_id, amount=amount, method=method, status="pending",
        created_at=utcnow()).returning(credit_refund_requests.c.id))).scalar_one()
    return await _request(session, request_id)


async def pending_request(*, session: AsyncSession, consumer_account_id: int) -> dict | None:
    row = (await session.execute(select(credit_refund_requests).where(
        credit_refund_requests.c.consumer_account_id == consumer_account_id,
        credit_refund_requests.c.status == "pending").order_by(credit_refund_requests.c.id).limit(1))
    ).mappings().first()
    return dict(row) if row is not None else None


async def refund_requests(*, session: AsyncSession, status: str | None, limit: int = 100) -> list[dict]:
    """Refund requests, oldest first (administrators pay the pending ones)."""
    query = select(credit_refund_requests).order_by(credit_refund_requests.c.id).limit(limit)
    if status:
        query = query.where(credit_refund_requests.c.status == status)
    return [dict(r) for r in (await session.execute(query)).mappings().all()]


async def _request(session: AsyncSession, request_id: int) -> dict:
    row = (await session.execute(select(credit_refund_requests).where(credit_refund_requests.c.id == request_id))
           ).mappings().one_or_none()
    if row is None:
        raise NotFound(f"refund request {request_id} does not exist", code="refund_request_not_found")
    return dict(row)


async def refund_credit(*, session: AsyncSession, consumer_account_id: int, amount: int | None, method: str | None,
                        client_id: str | None, recorded_by: int | None, request_id: int | None = None) -> dict:
    """Rule 3: pay her credit back; returns the movement. Paying a request takes its amount and method
    (unless given) and marks it paid."""
    request = None
    if request_id is not None:
        request = await _request(session, request_id)
        if request["consumer_account_id"] != consumer_account_id:
            raise NotFound(f"refund request {request_id} is not this consumer's", code="refund_request_not_found")
        if request["status"] == "paid":  # asked again: the payment that settled it
            return (await session.execute(select(credit_movements).where(
                credit_movements.c.id == request["movement_id"]))).mappings().one()
        amount = amount if amount is not None else request["amount"]
        method = method or request["method"]
        client_id = client_id or f"request-{request_id}"
    if amount is None or method is None:
        raise InvalidInput("give the amount and the method, or the refund request to pay", code="amount_or_request")
    if method not in CLEARING_BY_METHOD:
        raise InvalidInput(f"unknown method {method!r}; use cash, qr or transfer", code="invalid_method")
    client_id = f"credit-refund:{client_id or uuid.uuid4()}"
    found = await movement_by_client_id(session=session, client_id=client_id)
    if found is not None:
        return found
    credit = await ensure_account(session=session, kind=AccountKind.consumer_credit, owner_id=consumer_account_id,
                                  name=f"Saldo a favor {consumer_account_id}")
    clearing = await ensure_account(session=session, kind=CLEARING_BY_METHOD[method])
    balance = await credit_balance(session=session, consumer_account_id=consumer_account_id)
    if amount > balance:  # said first; the ledger still decides under its lock if another spend races
        raise Conflict(f"the credit holds {from_centavos(balance)} Bs; asked {from_centavos(amount)}",
                       code="insufficient_credit", details={"credit": str(from_centavos(balance))})
    try:
        posted = await post_entry(session=session, client_id=client_id, kind="credit_refund",
                                  description=f"Devolución del saldo a favor de {consumer_account_id} ({method})",
                                  ref=f"consumer:{consumer_account_id}",
                                  lines=[Posting(credit, amount), Posting(clearing, -amount)])
    except Conflict as exc:
        if exc.code != "insufficient_balance":
            raise
        if not str((exc.details or {}).get("account", "")).startswith(AccountKind.consumer_credit.value):
            raise Conflict(f"the platform holds too little collected by {method} to pay this back; choose another "
                           "method", code="clearing_insufficient", details={"method": method}) from None
        balance = await credit_balance(session=session, consumer_account_id=consumer_account_id)
        raise Conflict(f"the credit holds {from_centavos(balance)} Bs; asked {from_centavos(amount)}",
                       code="insufficient_credit", details={"credit": str(from_centavos(balance))}) from None
    if posted.created:
        await _movement(session, client_id=client_id, consumer_account_id=consumer_account_id, kind="refunded",
                        amount=amount, method=method, entry_id=posted.id, recorded_by=recorded_by)
    movement = await movement_by_client_id(session=session, client_id=client_id)
    if posted.created:
        if request is not None:
            await session.execute(update(credit_refund_requests).where(
                credit_refund_requests.c.id == request["id"], credit_refund_requests.c.status == "pending")
                .values(status="paid", movement_id=movement["id"]))
        await emit_refunded(session=session, refund_id=movement["id"], order_id=None, cycle_id=None,
                            consumer_account_id=consumer_account_id, amount=amount, method=method,
                            at=movement["created_at"])
    return movement


async def movement_by_client_id(*, session: AsyncSession, client_id: str) -> dict | None:
    row = (await session.execute(select(credit_movements).where(credit_movements.c.client_id == client_id))
           ).mappings().one_or_none()
    return dict(row) if row is not None else None


async def statement(*, session: AsyncSession, consumer_account_id: int, limit: int = 50) -> dict:
    """Her balance and latest movements, newest first."""
    rows = (await session.execute(select(credit_movements).where(
        credit_movements.c.consumer_account_id == consumer_account_id)
        .order_by(credit_movements.c.id.desc()).limit(limit))).mappings().all()
    return {"consumer_account_id": consumer_account_id,
            "balance": await credit_balance(session=session, consumer_account_id=consumer_account_id),
            "movements": [dict(r) for r in rows],
            "refund_request": await pending_request(session=session, consumer_account_id=consumer_account_id)}


# ---------------------------------------------------------------- where credit arises (event handlers)
async def on_order_cancelled(session: AsyncSession, envelope) -> None:
    """A cancelled order is credited back; what she had paid for it becomes her credit."""
    await order_book.on_order_cancelled(session, envelope)
    try:
        order_id = int(envelope.payload["order_id"])
    except (KeyError, TypeError, ValueError):
        return
    await bank_order_excess(session=session, order_id=order_id)


async def on_consignment_delivered(session: AsyncSession, envelope) -> None:
    """A short delivery credits its consumers; what they had paid beyond it becomes their credit."""
    receivable_id = await settlement.record_delivery(session=session, payload=envelope.payload)
    await _bank_orders_of(session, receivable_id)


async def on_consignment_corrected(session: AsyncSession, envelope) -> None:
    """A corrected receipt may credit its consumers more: that too becomes their credit."""
    await corrections.on_consignment_corrected(session, envelope)
    receivable_id = (await session.execute(select(receivables.c.id).where(
        receivables.c.consignment_id == int(envelope.payload["consignment_id"])))).scalar_one_or_none()
    if receivable_id is not None:
        await _bank_orders_of(session, receivable_id)


async def _bank_orders_of(session: AsyncSession, receivable_id: int) -> None:
    order_ids = (await session.execute(select(order_lines.c.order_id).where(
        order_lines.c.receivable_id == receivable_id).distinct().order_by(order_lines.c.order_id))).scalars().all()
    for order_id in order_ids:
        await bank_order_excess(session=session, order_id=order_id)
