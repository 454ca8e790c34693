"""Trust funds (fideicomisos) and versioned advance policies.

- A fund's money comes in from its settlor (fideicomitente): each contribution raises the fund's cap
  and is posted to the ledger (debit the fund, credit the financier's capital), once per client id.
- A fund shows the money in, what is committed (principal disbursed and not repaid, plus advances
  approved and waiting to be paid out) and what is available.
- A policy is changed by writing a new version (the old one stays, inactive, in the history) and is
  retired by ending it; advances already asked keep the version they were asked under.
- The fund's report: money in, advances out, repayments, costs collected and losses (what is unpaid
  on advances whose receivables proved uncollectible), per beneficiary organization and by gender.
"""

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import Conflict, NotFound
from services.common.money import from_centavos
from services.common.tables import utcnow
from services.payments import advances as pronto
from services.payments.ledger import AccountKind, Posting, ensure_account, post_entry
from services.payments.models import (
    advance_policies,
    advances,
    fund_contributions,
    funds,
    producer_profiles,
)

LIVE = ("disbursed", "repaid", "producer_debt")
POLICY_FIELDS = ("name", "advance_rate", "fee_kind", "fee_value", "min_amount", "max_amount", "producer_limit",
                 "auto_approve_up_to")


def bs(centavos: int) -> str:
    return str(from_centavos(int(centavos)))


async def fund(session: AsyncSession, fund_id: int, *, lock: bool = False):
    query = select(funds).where(funds.c.id == fund_id)
    if lock and session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    row = (await session.execute(query)).one_or_none()
    if row is None:
        raise NotFound(f"fund {fund_id} does not exist", code="fund_not_found")
    return row


# ---------------------------------------------------------------- money in
async def contribute(*, session: AsyncSession, fund_id: int, amount: int, client_id: str, note: str | None,
                     recorded_by: int | None):
    """The settlor's money reaches the fund: the cap grows by `amount`. A repeat of `client_id` returns
    the first contribution; the same id for another fund or amount is refused."""
    row = await fund(session, fund_id, lock=True)
    key = f"fund:{fund_id}:contribution:{client_id}"
    seen = (await session.execute(select(fund_contributions).where(fund_contributions.c.client_id == key))).one_or_none()
    if seen is not None:
        if seen.amount != amount:
            raise Conflict("Este aporte ya se registró con otro monto.", code="contribution_conflict",
                           details={"client_id": client_id})
        return seen
    capital = await ensure_account(session=session, kind=AccountKind.financier_capital, owner_id=row.financier_id)
    account = row.account_id or await ensure_account(session=session, kind=AccountKind.financier_fund,
                                                     owner_id=fund_id, name=f"Fondo {row.name}")
    posted = await post_entry(session=session, client_id=key, kind="fund_contribution",
                              description=f"Aporte al fondo {row.name}" + (f" ({row.settlor})" if row.settlor else ""),
                              financier_id=row.financier_id, ref=f"fund:{fund_id}",
                              lines=[Posting(account, amount), Posting(capital, -amount)])
    await session.execute(update(funds).where(funds.c.id == fund_id).values(cap=funds.c.cap + amount, account_id=account))
    await session.execute(insert(fund_contributions).values(
        fund_id=fund_id, client_id=key, amount=amount, note=(note or "").strip() or None, recorded_by=recorded_by,
        entry_id=posted.id, created_at=utcnow()))
    return (await session.execute(select(fund_contributions).where(fund_contributions.c.client_id == key))).one()


async def position(*, session: AsyncSession, fund_id: int) -> dict:
    """Money in, committed and available, in Bs."""
    row = await fund(session, fund_id)
    pending = dict((await session.execute(
        select(advances.c.status, func.coalesce(func.sum(advances.c.principal), 0))
        .where(advances.c.fund_id == fund_id, advances.c.status.in_(("requested", "approved")))
        .group_by(advances.c.status))).all())
    contributed = (await session.execute(select(func.coalesce(func.sum(fund_contributions.c.amount), 0))
                                         .where(fund_contributions.c.fund_id == fund_id))).scalar_one()
    committed = row.outstanding_principal + int(pending.get("approved", 0))
    return {
        "id": row.id, "financier_id": row.financier_id, "name": row.name, "kind": row.kind, "settlor": row.settlor,
        "beneficiary_organization_ids": list(row.beneficiary_organization_ids or []),
        "money_in": bs(row.cap), "opening_capital": bs(row.cap - int(contributed)), "contributions": bs(contributed),
        "outstanding_principal": bs(row.outstanding_principal), "approved_not_disbursed": bs(pending.get("approved", 0)),
        "committed": bs(committed), "requested": bs(pending.get("requested", 0)),
        "available": bs(max(row.cap - committed, 0)),
    }


async def contributions(*, session: AsyncSession, fund_id: int) -> list:
    return (await session.execute(select(fund_contributions).where(fund_contributions.c.fund_id == fund_id)
                                  .order_by(fund_contributions.c.id))).all()


# ---------------------------------------------------------------- policy versions
async def _current_version(session: AsyncSession, policy_id: int):
    query = select(advance_policies).where(advance_policies.c.id == policy_id)
    if session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    row = (await session.execute(query)).one_or_none()
    if row is None:
        raise NotFound(f"advance policy {policy_id} does not exist", code="policy_not_found")
    if not row.active:
        raise Conflict(f"La versión {row.version} de «{row.name}» ya no está vigente; cambie la vigente.",
                       code="policy_inactive", details={"policy_id": policy_id})
    return row


async def change_policy(*, session: AsyncSession, policy_id: int, changes: dict):
    """A new version with `changes` applied; the current one ends (kept, inactive, in the history)."""
    old = await _current_version(session, policy_id)
    values = {name: getattr(old, name) for name in POLICY_FIELDS}
    values.update({k: v for k, v in changes.items() if k in POLICY_FIELDS})
    await session.execute(update(advance_policies).where(advance_policies.c.id == old.id)
                          .values(active=False, retired_at=utcnow()))
    return await pronto.create_policy(session=session, financier_id=old.financier_id, fund_id=old.fund_id,
                                      series_id=old.series_id or old.id, version=old.version + 1, **values)


async def retire_policy(*, session: AsyncSession, policy_id: int):
    """End the policy `policy_id` belongs to: its version in force stops (kept, inactive); no new
    advances or acceptances under it. Ending an ended policy changes nothing. Returns its last version."""
    versions = await history(session=session, policy_id=policy_id)
    live = [v.id for v in versions if v.active]
    if live:
        await session.execute(update(advance_policies).where(advance_policies.c.id.in_(live))
                              .values(active=False, retired_at=utcnow()))
    return (await history(session=session, policy_id=policy_id))[-1]


async def history(*, session: AsyncSession, policy_id: int) -> list:
    """Every version of the policy `policy_id` belongs to, first to last."""
    row = await pronto.policy(session=session, policy_id=policy_id)
    series = row.series_id or row.id
    return (await session.execute(select(advance_policies).where(
        or_(advance_policies.c.id == series, advance_policies.c.series_id == series))
        .order_by(advance_policies.c.version))).all()


# ---------------------------------------------------------------- the fund's report
def _blank() -> dict:
    return {"advances": 0, "producers": set(), "advances_out": 0, "principal_repaid": 0, "costs_collected": 0,
            "costs_charged": 0, "losses": 0, "outstanding": 0}


def _add(group: dict, adv) -> None:
    unpaid = adv.principal + adv.fee - adv.principal_repaid - adv.fee_repaid
    group["advances"] += 1
    group["producers"].add(adv.producer_id)
    group["advances_out"] += adv.principal
    group["principal_repaid"] += adv.principal_repaid
    group["costs_collected"] += adv.fee_repaid
    group["costs_charged"] += adv.fee
    if adv.status == "producer_debt":
        group["losses"] += unpaid
    else:
        group["outstanding"] += unpaid


def _out(group: dict) -> dict:
    return {"advances": group["advances"], "producers": len(group["producers"]),
            "advances_out": bs(group["advances_out"]), "principal_repaid": bs(group["principal_repaid"]),
            "costs_collected": bs(group["costs_collected"]), "costs_charged": bs(group["costs_charged"]),
            "repayments": bs(group["principal_repaid"] + group["costs_collected"]),
            "losses": bs(group["losses"]), "outstanding": bs(group["outstanding"])}


async def fund_report(*, session: AsyncSession, fund_id: int) -> dict:
    """Money in (settlor), advances out, repayments, costs collected and losses; per beneficiary
    organization and by gender (female, male, other, unknown)."""
    head = await position(session=session, fund_id=fund_id)
    rows = (await session.execute(
        select(advances.c.producer_id, advances.c.status, advances.c.principal, advances.c.fee,
               advances.c.principal_repaid, advances.c.fee_repaid, producer_profiles.c.organization_id,
               producer_profiles.c.gender)
        .outerjoin(producer_profiles, producer_profiles.c.producer_id == advances.c.producer_id)
        .where(advances.c.fund_id == fund_id, advances.c.status.in_(LIVE)).order_by(advances.c.id))).all()
    totals, by_org, by_gender = _blank(), {}, {}
    for adv in rows:
        _add(totals, adv)
        _add(by_org.setdefault(adv.organization_id, _blank()), adv)
        gender = adv.gender if adv.gender in ("female", "male", "other") else "unknown"
        _add(by_gender.setdefault(gender, _blank()), adv)
    beneficiaries = head["beneficiary_organization_ids"]
    organizations = sorted(set(beneficiaries) | {k for k in by_org if k is not None}) + \
        ([None] if None in by_org else [])
    return {
        "fund": head, "currency": "BOB", "money_in": head["money_in"], "totals": _out(totals),
        "by_organization": [{"organization_id": org, "beneficiary": org in beneficiaries,
                             **_out(by_org.get(org, _blank()))} for org in organizations],
        "by_gender": [{"gender": g, **_out(by_gender[g])} for g in ("female", "male", "other", "unknown")
                      if g in by_gender],
    }
