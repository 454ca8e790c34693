"""Payout batches: paying producers (or the organization that collects for them) what a cycle's
final settlement left payable.

1. **Batch.** A coordinator of the cycle (or an organization, for its own members) lists lines: a
   payee, an amount (default: all that is left) and a method — bank transfer (bank and account),
   mobile wallet (number) or cash at the point. A member whose organization collects for her is paid
   through a line to the organization, split per member (`payout_parts`).
2. **Commit.** Each part claims its amount on the producer's payable with one conditional
   `UPDATE payables SET committed = committed + :x WHERE committed + :x <= amount`: a payout never
   exceeds what is payable, and two batches made at the same time never pay a producer twice (the
   second finds nothing left: 409 `payout_exceeds_payable`, and its whole batch is rolled back).
   Entry `payout:{line}:sent`: debit `producer_payable`, credit `payouts_in_transit`.
3. **Paid** with the provider's reference (cash: who received it): entry `payout:{line}:paid`, debit
   `payouts_in_transit`, credit the clearing the money leaves from (transfer and wallet: bank, cash:
   cash); a clearing without that much money refuses (409 `insufficient_funds`): cash banked or money
   moved between accounts is an admin's entry first.
4. **Failed**: entry `payout:{line}:failed` gives the amount back to the payable (debit
   `payouts_in_transit`, credit `producer_payable`); **retry** makes a new line for it, claimed again.

The CSV export is what a bank or wallet imports: one row per pending line, amounts with a point.
"""

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.csv_files import csv_text
from services.common.errors import Conflict, Forbidden, InvalidInput, NotFound
from services.common.money import format_bs, from_centavos
from services.common.tables import utcnow
from services.payments.final_settlement import is_settled
from services.payments.ledger import AccountKind, Posting, ensure_account, post_entry
from services.payments.models import payables, payout_batches, payout_lines, payout_parts

METHODS = ("bank_transfer", "mobile_wallet", "cash")
METHOD_NAMES = {"bank_transfer": "transferencia bancaria", "mobile_wallet": "billetera móvil",
                "cash": "efectivo en el punto"}
# the clearing account a payout's money leaves from, by its method: transfers and wallet payments are
# sent from the platform's bank account, cash is handed over from the cash collected at the points
CLEARING_BY_PAYOUT = {"bank_transfer": AccountKind.bank_clearing, "mobile_wallet": AccountKind.bank_clearing,
                      "cash": AccountKind.cash_clearing}


@dataclass(frozen=True)
class LineRequest:
    payee_kind: str  # producer | organization
    payee_id: int
    method: str
    amount: int | None = None  # None: all that is left
    bank: str | None = None
    account_number: str | None = None
    wallet_number: str | None = None


@dataclass(frozen=True)
class Maker:
    """Who makes a batch: the cycle's coordinator or an admin (any payee), or an organization
    (its own members, or itself for them)."""

    account_id: int | None
    organization_id: int | None = None


def check_method(line: LineRequest) -> None:
    if line.method not in METHODS:
        raise InvalidInput(f"método de pago desconocido {line.method!r}: use bank_transfer, mobile_wallet o cash",
                           code="invalid_method")
    if line.method == "bank_transfer" and not (line.bank and line.account_number):
        raise InvalidInput("una transferencia bancaria necesita el banco y el número de cuenta",
                           code="bank_details_required")
    if line.method == "mobile_wallet" and not line.wallet_number:
        raise InvalidInput("un pago por billetera móvil necesita el número de la billetera",
                           code="wallet_number_required")


async def create_batch(*, session: AsyncSession, cycle_id: int, lines: list[LineRequest], maker: Maker) -> int:
    """Make a batch and commit its lines on the payables; all or nothing. Returns the batch id."""
    if not lines:
        raise InvalidInput("un lote de pagos necesita al menos una línea", code="empty_batch")
    if not await is_settled(session=session, cycle_id=cycle_id):
        raise Conflict(f"el ciclo {cycle_id} no tiene liquidación final; hágala antes de pagar",
                       code="settlement_not_final")
    seen = set()
    for line in lines:
        check_method(line)
        if (line.payee_kind, line.payee_id) in seen:
            raise InvalidInput(f"{_payee_name(line.payee_kind, line.payee_id)} aparece dos veces en el lote",
                               code="duplicate_payee")
        seen.add((line.payee_kind, line.payee_id))
    batch_id = (await session.execute(payout_batches.insert().values(
        cycle_id=cycle_id, organization_id=maker.organization_id, created_by=maker.account_id,
        created_at=utcnow()).returning(payout_batches.c.id))).scalar_one()
    for line in lines:
        shares = await _parts_for(session=session, cycle_id=cycle_id, line=line, maker=maker)
        await _add_line(session=session, batch_id=batch_id, cycle_id=cycle_id, line=line, parts=shares)
    return batch_id


async def _parts_for(*, session: AsyncSession, cycle_id: int, line: LineRequest, maker: Maker) -> list[tuple]:
    """(payable row, amount) per producer the line pays, after checking who may pay whom."""
    if line.payee_kind == "producer":
        row = (await session.execute(select(payables).where(payables.c.cycle_id == cycle_id,
                                                            payables.c.producer_id == line.payee_id))).one_or_none()
        if row is None:
            raise NotFound(f"la productora {line.payee_id} no tiene saldo liquidado en el ciclo {cycle_id}",
                           code="payable_not_found")
        if maker.organization_id is not None and row.organization_id != maker.organization_id:
            raise Forbidden(f"la productora {line.payee_id} no es miembro de su organización", code="not_your_member")
        if row.collected_by_organization:
            raise Conflict(f"la productora {line.payee_id} cobra a través de su organización "
                           f"{row.organization_id}: pague a la organización", code="paid_through_organization")
        left = row.amount - row.committed
        amount = left if line.amount is None else line.amount
        _check_amount(amount, left, _payee_name("producer", line.payee_id))
        return [(row, amount)]
    if maker.organization_id is not None and maker.organization_id != line.payee_id:
        raise Forbidden("una organización solo se paga a sí misma lo de sus miembros", code="not_your_member")
    members = (await session.execute(select(payables).where(
        payables.c.cycle_id == cycle_id, payables.c.organization_id == line.payee_id,
        payables.c.collected_by_organization.is_(True)).order_by(payables.c.producer_id))).all()
    left = sum(r.amount - r.committed for r in members)
    amount = left if line.amount is None else line.amount
    _check_amount(amount, left, _payee_name("organization", line.payee_id))
    parts, rest = [], amount
    for row in members:  # a partial payment fills the members in order
        take = min(rest, row.amount - row.committed)
        if take > 0:
            parts.append((row, take))
            rest -= take
    return parts


def _check_amount(amount: int, left: int, payee: str) -> None:
    if amount <= 0 and left <= 0:
        raise Conflict(f"{payee} no tiene nada pendiente de pago en este ciclo", code="nothing_payable")
    if amount <= 0:
        raise InvalidInput("el monto de un pago debe ser positivo", code="invalid_amount")
    if amount > left:
        raise Conflict(f"el pago de {format_bs(amount)} supera lo pendiente de pago a {payee} "
                       f"({format_bs(max(left, 0))})", code="payout_exceeds_payable",
                       details={"payable": str(from_centavos(max(left, 0))), "asked": str(from_centavos(amount))})


def _payee_name(kind: str, payee_id: int) -> str:
    return f"la productora {payee_id}" if kind == "producer" else f"la organización {payee_id}"


async def _add_line(*, session: AsyncSession, batch_id: int, cycle_id: int, line: LineRequest, parts: list[tuple],
                    retry_of: int | None = None) -> int:
    total = sum(amount for _, amount in parts)
    line_id = (await session.execute(payout_lines.insert().values(
        batch_id=batch_id, cycle_id=cycle_id, payee_kind=line.payee_kind, payee_id=line.payee_id,
        method=line.method, bank=line.bank, account_number=line.account_number, wallet_number=line.wallet_number,
        amount=total, status="pending", retry_of=retry_of, created_at=utcnow()).returning(payout_lines.c.id))
               ).scalar_one()
    transit = await ensure_account(session=session, kind=AccountKind.payouts_in_transit)
    postings = [Posting(transit, -total)]
    for row, amount in parts:
        claimed = await session.execute(update(payables).where(
            payables.c.id == row.id, payables.c.committed + amount <= payables.c.amount)
            .values(committed=payables.c.committed + amount))
        if claimed.rowcount != 1:  # another batch took it first
            now_left = (await session.execute(select(payables.c.amount - payables.c.committed)
                                              .where(payables.c.id == row.id))).scalar_one()
            _check_amount(amount, now_left, _payee_name("producer", row.producer_id))
            raise Conflict("otro lote tomó este saldo al mismo tiempo; vuelva a intentarlo", code="payout_race")
        await session.execute(payout_parts.insert().values(line_id=line_id, payable_id=row.id,
                                                           producer_id=row.producer_id, amount=amount))
        payable = await ensure_account(session=session, kind=AccountKind.producer_payable, owner_id=row.producer_id)
        postings.append(Posting(payable, amount))
    await post_entry(session=session, client_id=f"payout:{line_id}:sent", kind="payout_sent",
                     description=f"Pago {line_id} por {METHOD_NAMES[line.method]} a "
                                 f"{_payee_name(line.payee_kind, line.payee_id)}",
                     producer_id=line.payee_id if line.payee_kind == "producer" else None, cycle_id=cycle_id,
                     ref=f"payout:{line_id}", lines=postings)
    return line_id


async def _locked_line(session: AsyncSession, line_id: int):
    query = select(payout_lines).where(payout_lines.c.id == line_id)
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    row = (await session.execute(query)).one_or_none()
    if row is None:
        raise NotFound(f"el pago {line_id} no existe", code="payout_not_found")
    return row


async def mark_paid(*, session: AsyncSession, line_id: int, reference: str | None, received_by: str | None):
    """The provider confirmed the payment (or the payee received the cash): it is paid out."""
    line = await _locked_line(session, line_id)
    if line.status == "paid":
        return line  # a repeat changes nothing
    if line.status != "pending":
        raise Conflict(f"el pago {line_id} falló; reintente con un pago nuevo", code="payout_failed")
    if line.method == "cash" and not (received_by or "").strip():
        raise InvalidInput("un pago en efectivo registra quién lo recibió", code="received_by_required")
    if line.method != "cash" and not (reference or "").strip():
        raise InvalidInput("un pago confirmado lleva la referencia del banco o la billetera",
                           code="reference_required")
    transit = await ensure_account(session=session, kind=AccountKind.payouts_in_transit)
    clearing = await ensure_account(session=session, kind=CLEARING_BY_PAYOUT[line.method])
    try:
        await post_entry(session=session, client_id=f"payout:{line_id}:paid", kind="payout_paid",
                         description=f"Pago {line_id} confirmado ({METHOD_NAMES[line.method]})",
                         producer_id=line.payee_id if line.payee_kind == "producer" else None,
                         cycle_id=line.cycle_id, ref=f"payout:{line_id}",
                         lines=[Posting(transit, line.amount), Posting(clearing, -line.amount)])
    except Conflict as exc:
        if exc.code != "insufficient_balance":
            raise
        where = "el efectivo cobrado en los puntos" if line.method == "cash" else "la cuenta bancaria"
        raise Conflict(f"{where} no tiene {format_bs(line.amount)} registrados para este pago; registre antes "
                       "el depósito o traspaso del dinero", code="insufficient_funds", details=exc.details) from None
    for part in await line_parts(session=session, line_id=line_id):
        await session.execute(update(payables).where(payables.c.id == part.payable_id)
                              .values(paid=payables.c.paid + part.amount))
    await session.execute(update(payout_lines).where(payout_lines.c.id == line_id).values(
        status="paid", reference=(reference or None), received_by=(received_by or None), settled_at=utcnow()))
    return await _locked_line(session, line_id)


async def mark_failed(*, session: AsyncSession, line_id: int, reason: str):
    """The payment did not go through: the amount is payable again."""
    line = await _locked_line(session, line_id)
    if line.status == "failed":
        return line
    if line.status != "pending":
        raise Conflict(f"el pago {line_id} ya fue confirmado como pagado", code="payout_already_paid")
    transit = await ensure_account(session=session, kind=AccountKind.payouts_in_transit)
    postings = [Posting(transit, line.amount)]
    for part in await line_parts(session=session, line_id=line_id):
        await session.execute(update(payables).where(payables.c.id == part.payable_id)
                              .values(committed=payables.c.committed - part.amount))
        payable = await ensure_account(session=session, kind=AccountKind.producer_payable, owner_id=part.producer_id)
        postings.append(Posting(payable, -part.amount))
    await post_entry(session=session, client_id=f"payout:{line_id}:failed", kind="payout_failed",
                     description=f"Pago {line_id} fallido: {reason}"[:300],
                     producer_id=line.payee_id if line.payee_kind == "producer" else None, cycle_id=line.cycle_id,
                     ref=f"payout:{line_id}", lines=postings)
    await session.execute(update(payout_lines).where(payout_lines.c.id == line_id).values(
        status="failed", failure_reason=reason[:300], settled_at=utcnow()))
    return await _locked_line(session, line_id)


async def retry(*, session: AsyncSession, line_id: int, method: str | None = None, bank: str | None = None,
                account_number: str | None = None, wallet_number: str | None = None) -> int:
    """Pay a failed line again (with new details if given), as a new line of the same batch."""
    line = await _locked_line(session, line_id)
    if line.status != "failed":
        raise Conflict(f"solo se reintenta un pago fallido; el pago {line_id} está {line.status}",
                       code="payout_not_failed")
    again = (await session.execute(select(payout_lines.c.id).where(payout_lines.c.retry_of == line_id))
             ).scalar_one_or_none()
    if again is not None:
        raise Conflict(f"el pago {line_id} ya se reintentó como el pago {again}", code="payout_already_retried",
                       details={"retry_id": again})
    request = LineRequest(payee_kind=line.payee_kind, payee_id=line.payee_id, method=method or line.method,
                          bank=bank if method else (bank or line.bank),
                          account_number=account_number if method else (account_number or line.account_number),
                          wallet_number=wallet_number if method else (wallet_number or line.wallet_number))
    check_method(request)
    parts = []
    for part in await line_parts(session=session, line_id=line_id):
        row = (await session.execute(select(payables).where(payables.c.id == part.payable_id))).one()
        parts.append((row, part.amount))
    return await _add_line(session=session, batch_id=line.batch_id, cycle_id=line.cycle_id, line=request,
                           parts=parts, retry_of=line_id)


async def line_parts(*, session: AsyncSession, line_id: int) -> list:
    return (await session.execute(select(payout_parts).where(payout_parts.c.line_id == line_id)
                                  .order_by(payout_parts.c.producer_id))).all()


async def batch(*, session: AsyncSession, batch_id: int) -> dict:
    row = (await session.execute(select(payout_batches).where(payout_batches.c.id == batch_id))).one_or_none()
    if row is None:
        raise NotFound(f"el lote de pagos {batch_id} no existe", code="batch_not_found")
    lines = await cycle_lines(session=session, cycle_id=row.cycle_id)
    return {"batch": row, "lines": [(ln, parts) for ln, parts in lines if ln.batch_id == batch_id]}


async def cycle_lines(*, session: AsyncSession, cycle_id: int, organization_id: int | None = None) -> list:
    """(line, parts) of every payout of a cycle (of an organization's batches, when given), oldest first."""
    query = select(payout_lines).join(payout_batches, payout_batches.c.id == payout_lines.c.batch_id) \
        .where(payout_lines.c.cycle_id == cycle_id)
    if organization_id is not None:
        query = query.where(payout_batches.c.organization_id == organization_id)
    lines = (await session.execute(query.order_by(payout_lines.c.id))).all()
    parts = (await session.execute(select(payout_parts).where(payout_parts.c.line_id.in_([ln.id for ln in lines]))
                                   .order_by(payout_parts.c.line_id, payout_parts.c.producer_id))).all() if lines else []
    by_line: dict[int, list] = {}
    for p in parts:
        by_line.setdefault(p.line_id, []).append(p)
    return [(ln, by_line.get(ln.id, [])) for ln in lines]


async def batch_of_line(*, session: AsyncSession, line_id: int):
    line = (await session.execute(select(payout_lines).where(payout_lines.c.id == line_id))).one_or_none()
    if line is None:
        raise NotFound(f"el pago {line_id} no existe", code="payout_not_found")
    return (await session.execute(select(payout_batches).where(payout_batches.c.id == line.batch_id))).one()


def batch_csv(found: dict) -> str:
    """One row per pending line, for the bank's or the wallet's bulk import (amounts with a point)."""
    rows = []
    for line, parts in found["lines"]:
        if line.status != "pending":
            continue
        detail = "; ".join(f"productora {p.producer_id}: {from_centavos(p.amount)}" for p in parts) \
            if line.payee_kind == "organization" else ""
        rows.append([f"MC-{line.batch_id}-{line.id}", line.payee_kind, line.payee_id, line.method,
                     line.bank or "", line.account_number or "", line.wallet_number or "",
                     f"{Decimal(line.amount) / 100:.2f}", "BOB", detail])
    return csv_text(rows, header=["reference", "payee_kind", "payee_id", "method", "bank", "account_number",
                                  "wallet_number", "amount", "currency", "split"])
