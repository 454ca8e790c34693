"""Pronto pago: financiers, their funds and advance policies; eligibility, requests, approval,
disbursal and repayment of advances on producers' receivables.

Money rules (docs/payments.md):
- principal <= advance_rate x eligible value (rounded half-up to the centavo), within the policy's
  minimum and maximum, the producer's limit on outstanding principal, and the fund's cap;
- fee: flat (bolivianos), percent of the principal, or a daily percent of the principal for each
  day from disbursal to the expected collection date (at least one day); one rounding, half-up;
- disbursal: debit the producer's advances account (principal + fee), credit the fund (principal)
  and the financier's fee income (fee);
- collections of an advanced receivable repay principal first, then the fee; the rest is the
  producer's. An uncollectible receivable leaves what is unpaid as the producer's debt, which her
  later collections repay first (set-off) before the rest is hers.

Concurrency: a receivable backs at most one advance. Requests claim receivables with one
conditional UPDATE (`advance_id IS NULL`), so of many concurrent requests exactly one wins. The
fund's outstanding principal moves by a conditional UPDATE that can never pass the cap.
"""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common import clock
from services.common.errors import Conflict, Forbidden, InvalidInput, NotFound
from services.common.events import emit
from services.common.money import apply_rate, from_centavos, percent_of, to_centavos
from services.common.tables import utcnow
from services.payments import access, terms
from services.payments.ledger import CLEARING_BY_METHOD, AccountKind, Posting, ensure_account, post_entry
from services.payments.models import (
    advance_policies,
    advances,
    cycle_settlements,
    financiers,
    funds,
    kernel,
    producer_profiles,
    receivables,
    terms_acceptances,
)
from services.payments.order_book import remember_producer

OUTSTANDING = ("approved", "disbursed", "producer_debt")
FINANCIER_KINDS = ("development_bank", "trust_fund", "cooperative", "other")


# ---------------------------------------------------------------- financiers, funds, policies
async def register_financier(*, session: AsyncSession, financier_id: int, name: str, kind: str):
    if kind not in FINANCIER_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(FINANCIER_KINDS)}", code="invalid_kind")
    row = await financier(session=session, financier_id=financier_id, missing_ok=True)
    if row is None:
        await session.execute(insert(financiers).values(id=financier_id, name=name, kind=kind, created_at=utcnow()))
        await ensure_account(session=session, kind=AccountKind.financier_capital, owner_id=financier_id,
                             name=f"Capital de {name}")
        await ensure_account(session=session, kind=AccountKind.financier_fees, owner_id=financier_id,
                             name=f"Comisiones de {name}")
    return await financier(session=session, financier_id=financier_id)


async def financier(*, session: AsyncSession, financier_id: int, missing_ok: bool = False):
    row = (await session.execute(select(financiers).where(financiers.c.id == financier_id))).one_or_none()
    if row is None and not missing_ok:
        raise NotFound(f"financier {financier_id} is not registered in payments", code="financier_not_found")
    return row


async def open_fund(*, session: AsyncSession, financier_id: int, name: str, cap: int, kind: str = "own",
                    settlor: str | None = None, beneficiary_organization_ids: list[int] | None = None):
    """A fund of `cap` centavos: its capital is posted from the financier into the fund account. A trust
    fund (`kind` trust_fund) names its settlor and beneficiary organizations; the financier is its trustee."""
    fin = await financier(session=session, financier_id=financier_id)
    if cap <= 0:
        raise InvalidInput("a fund's cap must be positive", code="invalid_cap")
    if kind == "trust_fund" and (not (settlor or "").strip() or not beneficiary_organization_ids):
        raise InvalidInput("Un fideicomiso indica su fideicomitente y al menos una organización beneficiaria.",
                           code="trust_fund_incomplete")
    existing = (await session.execute(select(funds).where(funds.c.financier_id == financier_id,
                                                          funds.c.name == name))).one_or_none()
    if existing is not None:
        if existing.cap != cap:
            raise Conflict(f"fund {name!r} already exists with another cap", code="fund_exists")
        return existing
    fund_id = (await session.execute(insert(funds).values(
        financier_id=financier_id, name=name, cap=cap, outstanding_principal=0, created_at=utcnow(), kind=kind,
        settlor=(settlor or "").strip() or None,
        beneficiary_organization_ids=sorted(set(beneficiary_organization_ids)) if beneficiary_organization_ids else None)
        .returning(funds.c.id))).scalar_one()
    account = await ensure_account(session=session, kind=AccountKind.financier_fund, owner_id=fund_id,
                                   name=f"Fondo {name} ({fin.name})")
    capital = await ensure_account(session=session, kind=AccountKind.financier_capital, owner_id=financier_id)
    await session.execute(update(funds).where(funds.c.id == fund_id).values(account_id=account))
    await post_entry(session=session, client_id=f"fund:{fund_id}:capital", kind="fund_capital",
                     description=f"Capital del fondo {name}", financier_id=financier_id,
                     lines=[Posting(account, cap), Posting(capital, -cap)])
    return (await session.execute(select(funds).where(funds.c.id == fund_id))).one()


async def create_policy(*, session: AsyncSession, financier_id: int, fund_id: int, name: str,
                        advance_rate: Decimal, fee_kind: str, fee_value: Decimal, min_amount: int,
                        max_amount: int, producer_limit: int, auto_approve_up_to: int | None,
                        series_id: int | None = None, version: int = 1):
    fund = (await session.execute(select(funds).where(funds.c.id == fund_id))).one_or_none()
    if fund is None or fund.financier_id != financier_id:
        raise NotFound(f"fund {fund_id} is not one of financier {financier_id}'s funds", code="fund_not_found")
    if fee_kind not in ("flat", "percent", "daily"):
        raise InvalidInput("fee_kind is flat, percent or daily", code="invalid_fee_kind")
    if not Decimal(0) < advance_rate <= Decimal(1):
        raise InvalidInput("advance_rate is a fraction above 0 and at most 1 (0.80 = 80 %)", code="invalid_rate")
    if fee_value < 0 or (fee_kind == "flat" and fee_value != fee_value.quantize(Decimal("0.01"))):
        raise InvalidInput("fee_value must be non-negative (bolivianos with centavos for a flat fee)",
                           code="invalid_fee")
    if min_amount <= 0 or max_amount < min_amount:
        raise InvalidInput("min_amount must be positive and max_amount at least min_amount", code="invalid_limits")
    if producer_limit < min_amount:
        raise InvalidInput("producer_limit must allow at least one minimum advance", code="invalid_limits")
    policy_id = (await session.execute(insert(advance_policies).values(
        financier_id=financier_id, fund_id=fund_id, name=name, advance_rate=advance_rate, fee_kind=fee_kind,
        fee_value=fee_value, min_amount=min_amount, max_amount=max_amount, producer_limit=producer_limit,
        auto_approve_up_to=auto_approve_up_to, active=True, created_at=utcnow(), series_id=series_id,
        version=version).returning(advance_policies.c.id))
    ).scalar_one()
    return await policy(session=session, policy_id=policy_id)


async def policy(*, session: AsyncSession, policy_id: int):
    row = (await session.execute(select(advance_policies).where(advance_policies.c.id == policy_id))).one_or_none()
    if row is None:
        raise NotFound(f"advance policy {policy_id} does not exist", code="policy_not_found")
    return row


# ---------------------------------------------------------------- fees and eligibility
def advance_fee(*, fee_kind: str, fee_value: Decimal, principal: int, disbursal_on: date,
                expected_collection_on: date) -> int:
    """The fee of an advance in centavos (one half-up rounding to the centavo)."""
    if fee_kind == "flat":
        return to_centavos(fee_value)
    if fee_kind == "percent":
        return percent_of(principal, fee_value)
    days = max(1, (expected_collection_on - disbursal_on).days)
    return percent_of(principal, Decimal(fee_value) * days)


async def eligible_receivables(*, session: AsyncSession, producer_id: int) -> list:
    """Receivables delivered and accepted, nothing collected yet, not backing any advance, not being
    corrected."""
    return (await session.execute(select(receivables).where(
        receivables.c.producer_id == producer_id, receivables.c.status == "open", receivables.c.collected == 0,
        receivables.c.advance_id.is_(None), receivables.c.held_for_correction.is_(None), receivables.c.amount > 0,
        receivables.c.cycle_id.not_in(select(cycle_settlements.c.cycle_id)))  # a final settlement pays them
        .order_by(receivables.c.id))).all()


async def producer_outstanding(*, session: AsyncSession, producer_id: int) -> int:
    """Principal of a producer's approved or disbursed advances not yet repaid."""
    total = (await session.execute(select(func.coalesce(func.sum(advances.c.principal - advances.c.principal_repaid), 0))
                                   .where(advances.c.producer_id == producer_id,
                                          advances.c.status.in_(OUTSTANDING)))).scalar_one()
    return int(total)


async def eligibility(*, session: AsyncSession, producer_id: int, today: date | None = None) -> dict:
    today = today or clock.today()
    rows = await eligible_receivables(session=session, producer_id=producer_id)
    value = sum(r.amount for r in rows)
    outstanding = await producer_outstanding(session=session, producer_id=producer_id)
    offers = []
    organization = await access.producer_organization(session, producer_id)
    accepted = set((await session.execute(select(terms_acceptances.c.policy_id).where(
        terms_acceptances.c.producer_id == producer_id))).scalars().all())
    for pol in (await session.execute(select(advance_policies).where(advance_policies.c.active.is_(True))
                                      .order_by(advance_policies.c.id))).all():
        fund = (await session.execute(select(funds).where(funds.c.id == pol.fund_id))).one()
        if not terms.serves(fund, organization):
            continue  # a trust fund for other organizations' members: no offer for her
        limit = min(apply_rate(value, pol.advance_rate), pol.max_amount, pol.producer_limit - outstanding,
                    fund.cap - fund.outstanding_principal)
        expected = max((r.expected_collection_on for r in rows), default=today)
        offers.append({"policy_id": pol.id, "financier_id": pol.financier_id, "policy_name": pol.name,
                       "max_advance": max(limit, 0), "min_advance": pol.min_amount,
                       "available": limit >= pol.min_amount,
                       "fee_for_max": advance_fee(fee_kind=pol.fee_kind, fee_value=pol.fee_value,
                                                  principal=max(limit, 0), disbursal_on=today,
                                                  expected_collection_on=expected) if limit > 0 else 0,
                       "policy_version": pol.version, "cost": terms.cost_text(pol.fee_kind, pol.fee_value),
                       "terms": terms.terms_text(pol), "terms_accepted": pol.id in accepted})
    return {"producer_id": producer_id, "eligible_value": value, "outstanding_principal": outstanding,
            "receivables": rows, "offers": offers}


# ---------------------------------------------------------------- requests and decisions
@dataclass(frozen=True)
class AdvanceOffer:
    """What an advance would be, before it is asked for: the producer sees it and then confirms."""

    policy: Any
    receivables: list
    eligible_value: int
    principal: int
    fee: int
    expected_collection_on: date
    acceptance_id: int | None = None  # the producer's acceptance of the policy version's terms


async def offer_advance(*, session: AsyncSession, producer_id: int, policy_id: int | None,
                        amount: int | None, receivable_ids: list[int] | None, today: date | None = None) -> AdvanceOffer:
    """The advance a request would make (policy, receivables backing it, principal, fee, the day it is
    expected to be repaid), checked against every rule; nothing is written."""
    today = today or clock.today()
    if amount is None and not receivable_ids:
        raise InvalidInput("ask for an amount or choose receivables", code="amount_or_receivables")
    pol = await _choose_policy(session, policy_id, producer_id)
    await terms.require_beneficiary(session, pol.fund_id, producer_id)
    accepted = await terms.require_acceptance(session, pol, producer_id)
    eligible = await eligible_receivables(session=session, producer_id=producer_id)
    by_id = {r.id: r for r in eligible}
    if receivable_ids:
        missing = sorted(set(receivable_ids) - set(by_id))
        if missing:
            raise Conflict("some receivables are not eligible (not yours, not delivered and accepted, already "
                           "collected or already advanced)", code="receivables_not_eligible",
                           details={"receivable_ids": missing})
        chosen = [by_id[i] for i in sorted(set(receivable_ids))]
    else:
        chosen, covered = [], 0
        for r in eligible:  # oldest first, until the advance rate of their value covers the amount
            if apply_rate(covered, pol.advance_rate) >= amount:
                break
            chosen.append(r)
            covered += r.amount
    eligible_value = sum(r.amount for r in chosen)
    ceiling = apply_rate(eligible_value, pol.advance_rate)
    if amount is not None and amount > ceiling:
        raise Conflict(f"at most {from_centavos(ceiling)} Bs can be advanced on the chosen receivables",
                       code="over_eligible_value", details={"max_advance": str(from_centavos(ceiling))})
    principal = amount if amount is not None else min(ceiling, pol.max_amount)
    _check_policy_limits(pol, principal)
    if await producer_outstanding(session=session, producer_id=producer_id) + principal > pol.producer_limit:
        raise Conflict("this advance would pass the producer's limit on outstanding advances",
                       code="producer_limit", details={"limit": str(from_centavos(pol.producer_limit))})
    expected = max(r.expected_collection_on for r in chosen)
    fee = advance_fee(fee_kind=pol.fee_kind, fee_value=pol.fee_value, principal=principal, disbursal_on=today,
                      expected_collection_on=expected)
    return AdvanceOffer(policy=pol, receivables=chosen, eligible_value=eligible_value, principal=principal,
                        fee=fee, expected_collection_on=expected, acceptance_id=accepted.id)


async def request_advance(*, session: AsyncSession, producer_id: int, policy_id: int | None,
                          amount: int | None, receivable_ids: list[int] | None, today: date | None = None,
                          requested_by: int | None = None, consent: str | None = None):
    """Create an advance request; within the policy's auto-approval limit it is disbursed at once."""
    today = today or clock.today()
    offer = await offer_advance(session=session, producer_id=producer_id, policy_id=policy_id, amount=amount,
                                receivable_ids=receivable_ids, today=today)
    pol, chosen, eligible_value = offer.policy, offer.receivables, offer.eligible_value
    principal, fee, expected = offer.principal, offer.fee, offer.expected_collection_on
    ids = [r.id for r in chosen]
    advance_id = (await session.execute(insert(advances).values(
        producer_id=producer_id, financier_id=pol.financier_id, fund_id=pol.fund_id, policy_id=pol.id,
        status="requested", eligible_value=eligible_value, principal=principal, fee=fee, principal_repaid=0,
        fee_repaid=0, expected_collection_on=expected, auto_approved=False, receivable_ids=ids,
        requested_at=utcnow(), acceptance_id=offer.acceptance_id, requested_by=requested_by,
        consent=consent).returning(advances.c.id))).scalar_one()
    claimed = await session.execute(update(receivables).where(
        receivables.c.id.in_(ids), receivables.c.advance_id.is_(None), receivables.c.status == "open",
        receivables.c.held_for_correction.is_(None), receivables.c.collected == 0,
        receivables.c.cycle_id.not_in(select(cycle_settlements.c.cycle_id))).values(advance_id=advance_id))
    if claimed.rowcount != len(ids):
        raise Conflict("these receivables were just advanced by another request", code="receivables_already_advanced",
                       details={"receivable_ids": ids})
    if pol.auto_approve_up_to is not None and principal <= pol.auto_approve_up_to:
        await session.execute(update(advances).where(advances.c.id == advance_id)
                              .values(auto_approved=True))
        await approve_advance(session=session, advance_id=advance_id, financier_id=pol.financier_id, today=today)
        await disburse_advance(session=session, advance_id=advance_id, financier_id=pol.financier_id)
    else:  # the financier decides: it is told an advance waits for its approval
        await emit(session, kernel, event_type="advance.requested", aggregate_id=advance_id,
                   payload=_advance_payload(await advance(session=session, advance_id=advance_id)))
    return await advance(session=session, advance_id=advance_id)


def _advance_payload(row) -> dict:
    """The fields `advance.requested` and `advance.approved` carry."""
    return {"advance_id": row.id, "producer_id": row.producer_id, "financier_id": row.financier_id,
            "fund_id": row.fund_id, "policy_id": row.policy_id, "principal": str(from_centavos(row.principal)),
            "fee": str(from_centavos(row.fee)), "expected_collection_on": row.expected_collection_on.isoformat(),
            "auto_approved": bool(row.auto_approved)}


def _check_policy_limits(pol, principal: int) -> None:
    if principal < pol.min_amount:
        raise Conflict(f"advances under this policy start at {from_centavos(pol.min_amount)} Bs",
                       code="below_minimum_advance", details={"min_amount": str(from_centavos(pol.min_amount))})
    if principal > pol.max_amount:
        raise Conflict(f"advances under this policy are at most {from_centavos(pol.max_amount)} Bs",
                       code="above_maximum_advance", details={"max_amount": str(from_centavos(pol.max_amount))})


async def _choose_policy(session: AsyncSession, policy_id: int | None, producer_id: int):
    """The policy asked for; without one, the active policy whose terms she accepted last, else the
    first active one (whose terms she is then asked to accept)."""
    if policy_id is not None:
        pol = await policy(session=session, policy_id=policy_id)
    else:
        active = advance_policies.c.active.is_(True)
        pol = (await session.execute(select(advance_policies).join(
            terms_acceptances, terms_acceptances.c.policy_id == advance_policies.c.id).where(
            active, terms_acceptances.c.producer_id == producer_id)
            .order_by(terms_acceptances.c.id.desc()).limit(1))).one_or_none() or \
            (await session.execute(select(advance_policies).where(active)
                                   .order_by(advance_policies.c.id).limit(1))).one_or_none()
        if pol is None:
            raise NotFound("no financier offers advances right now", code="policy_not_found")
    if not pol.active:
        raise Conflict(f"advance policy {pol.id} is not active", code="policy_inactive")
    return pol


async def advance(*, session: AsyncSession, advance_id: int):
    row = (await session.execute(select(advances).where(advances.c.id == advance_id))).one_or_none()
    if row is None:
        raise NotFound(f"advance {advance_id} does not exist", code="advance_not_found")
    return row


async def _own_advance(session: AsyncSession, advance_id: int, financier_id: int | None, *, lock: bool = False):
    query = select(advances).where(advances.c.id == advance_id)
    if lock and session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    row = (await session.execute(query)).one_or_none()
    if row is None:
        raise NotFound(f"advance {advance_id} does not exist", code="advance_not_found")
    if financier_id is not None and row.financier_id != financier_id:
        raise Forbidden("this advance belongs to another financier's portfolio", code="not_your_advance")
    return row


async def approve_advance(*, session: AsyncSession, advance_id: int, financier_id: int | None,
                          today: date | None = None):
    row = await _own_advance(session, advance_id, financier_id, lock=True)
    if row.status == "approved":
        return row
    if row.status != "requested":
        raise Conflict(f"advance {advance_id} is {row.status}; only a requested advance is approved",
                       code="advance_not_requested")
    pol = await policy(session=session, policy_id=row.policy_id)
    await _lock_producer(session, row.producer_id)
    if await producer_outstanding(session=session, producer_id=row.producer_id) + row.principal > pol.producer_limit:
        raise Conflict("approving would pass the producer's limit on outstanding advances", code="producer_limit")
    await session.execute(update(advances).where(advances.c.id == advance_id)
                          .values(status="approved", decided_at=utcnow()))
    approved = await advance(session=session, advance_id=advance_id)
    await emit(session, kernel, event_type="advance.approved", aggregate_id=advance_id,
               payload=_advance_payload(approved))
    return approved


async def reject_advance(*, session: AsyncSession, advance_id: int, financier_id: int | None, reason: str | None):
    row = await _own_advance(session, advance_id, financier_id, lock=True)
    if row.status == "rejected":
        return row
    if row.status not in ("requested", "approved"):
        raise Conflict(f"advance {advance_id} is {row.status}; it can no longer be rejected", code="advance_not_pending")
    await session.execute(update(advances).where(advances.c.id == advance_id)
                          .values(status="rejected", decided_at=utcnow(), reason=reason))
    await session.execute(update(receivables).where(receivables.c.advance_id == advance_id).values(advance_id=None))
    return await advance(session=session, advance_id=advance_id)


async def _lock_producer(session: AsyncSession, producer_id: int) -> None:
    """Serialise decisions about one producer's limit (PostgreSQL row lock on her profile)."""
    await remember_producer(session=session, producer_id=producer_id)
    if session.bind.dialect.name == "postgresql":
        await session.execute(select(producer_profiles.c.producer_id)
                              .where(producer_profiles.c.producer_id == producer_id).with_for_update())


async def disburse_advance(*, session: AsyncSession, advance_id: int, financier_id: int | None):
    """Pay an approved advance out of its fund: fund -> producer, fee recorded for the financier."""
    row = await _own_advance(session, advance_id, financier_id, lock=True)
    if row.status in ("disbursed", "repaid", "producer_debt"):
        return row
    if row.status != "approved":
        raise Conflict(f"advance {advance_id} is {row.status}; approve it first", code="advance_not_approved")
    grown = await session.execute(update(funds).where(
        funds.c.id == row.fund_id, funds.c.outstanding_principal + row.principal <= funds.c.cap)
        .values(outstanding_principal=funds.c.outstanding_principal + row.principal).returning(funds.c.id))
    if grown.first() is None:
        raise Conflict("the fund has not enough room under its cap for this advance", code="fund_cap_reached")
    fund = (await session.execute(select(funds).where(funds.c.id == row.fund_id))).one()
    debt = await ensure_account(session=session, kind=AccountKind.producer_advances, owner_id=row.producer_id,
                                name=f"Anticipos de la productora {row.producer_id}")
    fees = await ensure_account(session=session, kind=AccountKind.financier_fees, owner_id=row.financier_id)
    posted = await post_entry(
        session=session, client_id=f"advance:{advance_id}:disbursal", kind="advance_disbursal",
        description=f"Pronto pago {advance_id}: desembolso y comisión", producer_id=row.producer_id,
        financier_id=row.financier_id, ref=f"advance:{advance_id}",
        lines=[Posting(debt, row.principal + row.fee), Posting(fund.account_id, -row.principal),
               Posting(fees, -row.fee)])
    await session.execute(update(advances).where(advances.c.id == advance_id).values(
        status="disbursed", disbursed_at=utcnow(), disbursal_entry_id=posted.id))
    await emit(session, kernel, event_type="advance.disbursed", aggregate_id=advance_id, payload={
        "advance_id": advance_id, "producer_id": row.producer_id, "financier_id": row.financier_id,
        "fund_id": row.fund_id, "principal": str(from_centavos(row.principal)), "fee": str(from_centavos(row.fee)),
        "receivable_ids": list(row.receivable_ids)})
    return await advance(session=session, advance_id=advance_id)


# ---------------------------------------------------------------- repayment and default
async def repay_from_collection(*, session: AsyncSession, advance_id: int, available: int, method: str,
                                client_id: str, cycle_id: int | None) -> int:
    """Repay an advance from `available` centavos just collected: principal first, then the fee.
    Returns what went to the financier; the rest stays the producer's."""
    row = await _own_advance(session, advance_id, None, lock=True)
    if row.status not in ("disbursed", "producer_debt"):
        return 0
    principal_part = min(available, row.principal - row.principal_repaid)
    fee_part = min(available - principal_part, row.fee - row.fee_repaid)
    paid = principal_part + fee_part
    if paid <= 0:
        return 0
    fund = (await session.execute(select(funds).where(funds.c.id == row.fund_id))).one()
    producer = await ensure_account(session=session, kind=AccountKind.producer, owner_id=row.producer_id)
    debt = await ensure_account(session=session, kind=AccountKind.producer_advances, owner_id=row.producer_id)
    clearing = await ensure_account(session=session, kind=CLEARING_BY_METHOD[method])
    if principal_part:
        await session.execute(update(funds).where(funds.c.id == row.fund_id)
                              .values(outstanding_principal=funds.c.outstanding_principal - principal_part))
    posted = await post_entry(
        session=session, client_id=client_id, kind="advance_repayment",
        description=f"Pronto pago {advance_id}: reembolso al financiador", producer_id=row.producer_id,
        cycle_id=cycle_id, financier_id=row.financier_id, ref=f"advance:{advance_id}",
        lines=[Posting(producer, paid), Posting(debt, -paid), Posting(fund.account_id, paid), Posting(clearing, -paid)])
    if not posted.created:
        return 0
    principal_repaid, fee_repaid = row.principal_repaid + principal_part, row.fee_repaid + fee_part
    done = principal_repaid == row.principal and fee_repaid == row.fee
    await session.execute(update(advances).where(advances.c.id == advance_id).values(
        principal_repaid=principal_repaid, fee_repaid=fee_repaid, status="repaid" if done else row.status))
    outstanding = row.principal + row.fee - principal_repaid - fee_repaid
    await emit(session, kernel, event_type="advance.repaid", aggregate_id=advance_id, payload={
        "advance_id": advance_id, "producer_id": row.producer_id,
        "principal_repaid": str(from_centavos(principal_part)), "fee_repaid": str(from_centavos(fee_part)),
        "outstanding": str(from_centavos(outstanding))})
    return paid


async def settle_producer_debts(*, session: AsyncSession, producer_id: int, available: int, method: str,
                                source: str, cycle_id: int | None) -> int:
    """Set-off: money collected for a producer repays her debts (advances whose receivable proved
    uncollectible), oldest first, before it is hers. Returns what it repaid."""
    debts = (await session.execute(select(advances.c.id).where(
        advances.c.producer_id == producer_id, advances.c.status == "producer_debt").order_by(advances.c.id))
    ).scalars().all()
    repaid = 0
    for advance_id in debts:
        if available - repaid <= 0:
            break
        repaid += await repay_from_collection(session=session, advance_id=advance_id, available=available - repaid,
                                              method=method, client_id=f"setoff:{source}:{advance_id}",
                                              cycle_id=cycle_id)
    return repaid


async def declare_uncollectible(*, session: AsyncSession, receivable_id: int, reason: str | None = None):
    """The buyers will not pay this receivable: its advance, if unpaid, stays as the producer's debt."""
    row = (await session.execute(select(receivables).where(receivables.c.id == receivable_id))).one_or_none()
    if row is None:
        raise NotFound(f"receivable {receivable_id} does not exist", code="receivable_not_found")
    if row.status == "collected":
        raise Conflict("this receivable was collected in full", code="receivable_collected")
    await session.execute(update(receivables).where(receivables.c.id == receivable_id).values(status="uncollectible"))
    if row.advance_id is not None:
        adv = await advance(session=session, advance_id=row.advance_id)
        if adv.status == "disbursed":
            await session.execute(update(advances).where(advances.c.id == adv.id)
                                  .values(status="producer_debt", reason=reason or "receivable uncollectible"))
        elif adv.status in ("requested", "approved"):
            await reject_advance(session=session, advance_id=adv.id, financier_id=None,
                                 reason="backing receivable declared uncollectible")
    return (await session.execute(select(receivables).where(receivables.c.id == receivable_id))).one()
