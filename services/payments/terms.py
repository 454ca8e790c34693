"""The terms of an advance policy version, and the producer's acceptance of them.

Before her first advance under a policy version a producer accepts its terms — herself, or her
organization for her with her recorded consent (docs/payments.md, "Trust funds and accepted
terms"). The acceptance keeps who accepted, when, which version and the administrative cost it
stated; every advance under the version carries it. A new version of the policy is a new row, so
it needs a new acceptance.
"""

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.errors import Conflict, Forbidden, InvalidInput
from services.common.money import format_bs, to_centavos
from services.common.tables import insert_ignoring_conflict, utcnow
from services.payments import access
from services.payments.models import funds, terms_acceptances


def _number(value: Decimal) -> str:
    text = f"{Decimal(value).normalize():f}"
    return text.replace(".", ",")


def cost_text(fee_kind: str, fee_value: Decimal) -> str:
    """The administrative cost per advance, as a producer reads it (es-BO)."""
    if fee_kind == "flat":
        return f"{format_bs(to_centavos(fee_value))} por adelanto"
    if fee_kind == "percent":
        return f"{_number(fee_value)} % del adelanto"
    return f"{_number(fee_value)} % del adelanto por día hasta la fecha de cobro (al menos un día)"


def terms_text(pol) -> str:
    """What the producer accepts: the version, the share of her sales she may receive early, the limits
    and the administrative cost; repaid from what her buyers pay, principal first."""
    rate = _number(Decimal(pol.advance_rate) * 100)
    return (f"«{pol.name}», versión {pol.version}: adelanto de hasta el {rate} % de lo que le deben por "
            f"entregas aceptadas, de {format_bs(pol.min_amount)} a {format_bs(pol.max_amount)} por adelanto. "
            f"Costo administrativo: {cost_text(pol.fee_kind, pol.fee_value)}. Se devuelve con lo que "
            f"pagan los compradores, primero el adelanto y después el costo.")


def serves(fund, organization_id: int | None) -> bool:
    """A trust fund serves only the members of its beneficiary organizations; other funds anyone."""
    if fund.kind != "trust_fund" or not fund.beneficiary_organization_ids:
        return True
    return organization_id in set(fund.beneficiary_organization_ids)


async def require_beneficiary(session: AsyncSession, fund_id: int, producer_id: int) -> None:
    fund = (await session.execute(select(funds.c.kind, funds.c.beneficiary_organization_ids)
                                  .where(funds.c.id == fund_id))).one()
    if not serves(fund, await access.producer_organization(session, producer_id)):
        raise Conflict("Este fideicomiso solo adelanta a socias de sus organizaciones beneficiarias.",
                       code="not_a_beneficiary", details={"fund_id": fund_id})


async def acceptance(session: AsyncSession, *, policy_id: int, producer_id: int):
    return (await session.execute(select(terms_acceptances).where(
        terms_acceptances.c.policy_id == policy_id, terms_acceptances.c.producer_id == producer_id))).one_or_none()


async def require_acceptance(session: AsyncSession, pol, producer_id: int):
    """The producer's acceptance of this policy version, or 409 terms_not_accepted."""
    found = await acceptance(session, policy_id=pol.id, producer_id=producer_id)
    if found is None:
        raise Conflict(f"Antes de pedir un adelanto acepte las condiciones de «{pol.name}» (versión {pol.version}): "
                       f"costo administrativo {cost_text(pol.fee_kind, pol.fee_value)}.",
                       code="terms_not_accepted",
                       details={"policy_id": pol.id, "version": pol.version, "terms": terms_text(pol)})
    return found


async def accept(session: AsyncSession, *, pol, producer_id: int, account_id: int, role: str,
                 organization_id: int | None, consent: str | None):
    """Record that the producer accepts `pol`'s terms. `role` is who accepts: the producer herself, or
    her organization (`organization_id`, which must be hers) with her consent. A repeat changes nothing."""
    if not pol.active:
        raise Conflict(f"La política «{pol.name}» (versión {pol.version}) ya no está vigente; acepte la vigente.",
                       code="policy_inactive", details={"policy_id": pol.id})
    if role == "organization":
        if organization_id is None or await access.producer_organization(session, producer_id) != organization_id:
            raise Forbidden("Una organización acepta condiciones solo por sus socias.", code="not_your_member")
        if not (consent or "").strip():
            raise InvalidInput("Indique cómo dio su consentimiento la productora (p. ej. «acta de asamblea del "
                               "12/11, firmada»).", code="consent_required")
    await require_beneficiary(session, pol.fund_id, producer_id)
    await session.execute(insert_ignoring_conflict(session, terms_acceptances).values(
        policy_id=pol.id, producer_id=producer_id, accepted_by_account_id=account_id, accepted_by_role=role,
        organization_id=organization_id if role == "organization" else None,
        consent=(consent or "").strip() or None, fee_kind=pol.fee_kind, fee_value=pol.fee_value,
        policy_version=pol.version, accepted_at=utcnow()))
    return await acceptance(session, policy_id=pol.id, producer_id=producer_id)


async def acceptances_by_id(session: AsyncSession, ids) -> dict[int, object]:
    wanted = sorted({int(i) for i in ids if i is not None})
    if not wanted:
        return {}
    rows = (await session.execute(select(terms_acceptances).where(terms_acceptances.c.id.in_(wanted)))).all()
    return {r.id: r for r in rows}



def acceptance_summary(row) -> str | None:
    """One line for a statement: the terms an advance was asked under, who accepted them and when."""
    if row is None:
        return None
    who = "su organización, con su consentimiento" if row.accepted_by_role == "organization" else "la productora"
    return (f"Condiciones aceptadas por {who} el {row.accepted_at:%d/%m/%Y}: versión {row.policy_version}, "
            f"costo administrativo {cost_text(row.fee_kind, row.fee_value)}")
