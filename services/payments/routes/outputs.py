"""How the payments routers turn rows into responses (amounts in Bs, not centavos)."""



from services.common.money import from_centavos
from services.payments import ledger, terms
from services.payments.schemas import (
    AcceptanceOut,
    AccountOut,
    AdvanceOfferOut,
    AdvanceOut,
    ContributionOut,
    EntryOut,
    FundOut,
    PaymentOut,
    PolicyOut,
    ReceivableOut,
)


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


def advance_offer_out(producer_id: int, offer) -> AdvanceOfferOut:
    pol = offer.policy
    return AdvanceOfferOut(
        producer_id=producer_id, policy_id=pol.id, policy_name=pol.name, financier_id=pol.financier_id,
        principal=bs(offer.principal), fee=bs(offer.fee), repay=bs(offer.principal + offer.fee),
        expected_collection_on=offer.expected_collection_on, eligible_value=bs(offer.eligible_value),
        receivable_ids=[r.id for r in offer.receivables])




def acceptance_out(row) -> AcceptanceOut:
    return AcceptanceOut(id=row.id, policy_id=row.policy_id, policy_version=row.policy_version,
                         producer_id=row.producer_id, accepted_by_account_id=row.accepted_by_account_id,
                         accepted_by_role=row.accepted_by_role, organization_id=row.organization_id,
                         consent=row.consent, fee_kind=row.fee_kind, fee_value=row.fee_value,
                         cost=terms.cost_text(row.fee_kind, row.fee_value), accepted_at=row.accepted_at)


async def advances_out(session, rows) -> list[AdvanceOut]:
    """Advances with the terms each was asked under (one query for all)."""
    found = await terms.acceptances_by_id(session, [getattr(r, "acceptance_id", None) for r in rows])
    return [advance_out(r, found.get(getattr(r, "acceptance_id", None))) for r in rows]


def advance_out(row, acceptance=None) -> AdvanceOut:
    outstanding = 0 if row.status in ("rejected", "requested", "approved") else (
        row.principal + row.fee - row.principal_repaid - row.fee_repaid)
    return AdvanceOut(
        id=row.id, producer_id=row.producer_id, financier_id=row.financier_id, fund_id=row.fund_id,
        policy_id=row.policy_id, status=row.status, eligible_value=bs(row.eligible_value),
        principal=bs(row.principal), fee=bs(row.fee), principal_repaid=bs(row.principal_repaid),
        fee_repaid=bs(row.fee_repaid), outstanding=bs(outstanding), expected_collection_on=row.expected_collection_on,
        auto_approved=row.auto_approved, receivable_ids=list(row.receivable_ids), reason=row.reason,
        requested_at=row.requested_at, disbursed_at=row.disbursed_at, requested_by=row.requested_by,
        consent=row.consent, terms=None if acceptance is None else acceptance_out(acceptance))


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
                     active=row.active, version=row.version, series_id=row.series_id, retired_at=row.retired_at,
                     cost=terms.cost_text(row.fee_kind, row.fee_value), terms=terms.terms_text(row))


def fund_out(row) -> FundOut:
    return FundOut(id=row.id, financier_id=row.financier_id, name=row.name, cap=bs(row.cap),
                   outstanding_principal=bs(row.outstanding_principal), account_id=row.account_id,
                   kind=row.kind, settlor=row.settlor,
                   beneficiary_organization_ids=list(row.beneficiary_organization_ids or []))


def contribution_out(row) -> ContributionOut:
    return ContributionOut(id=row.id, fund_id=row.fund_id, amount=bs(row.amount), note=row.note,
                           entry_id=row.entry_id, created_at=row.created_at)


async def entry_out(session, entry_id: int) -> EntryOut:
    found = await ledger.entry_with_postings(session=session, entry_id=entry_id)
    e = found["entry"]
    return EntryOut(id=e.id, client_id=e.client_id, kind=e.kind, description=e.description, currency=e.currency,
                    reverses_entry_id=e.reverses_entry_id, created_at=e.created_at,
                    postings=[{"account_id": p.account_id, "account_code": p.code, "amount": bs(p.amount)}
                              for p in found["postings"]])
