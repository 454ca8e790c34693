"""Request and response shapes of the payments API. Money is a decimal string in bolivianos."""

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import Path, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from services.common.money import Amount, PositiveAmount
from services.common.timestamps import UtcTimestamp

MAX_ID = 2**53  # ids beyond this are typing errors (and fit every database's BIGINT)
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
IdQuery = Annotated[int, Query(ge=1, le=MAX_ID)]
BodyId = Annotated[int, Field(ge=1, le=MAX_ID)]
ClientId = Annotated[str, Field(min_length=1, max_length=120, pattern=r"^[\w.:\-]+$")]
Method = Literal["cash", "qr", "transfer"]


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text cannot contain NUL characters")
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
"""Free text from a client: any characters but NUL (which no database stores)."""
PlainQuery = r"^[^\x00]*$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- ledger
class AccountOut(BaseModel):
    id: int
    code: str
    kind: str
    owner_id: int | None
    name: str
    normal_side: str
    may_go_negative: bool
    balance: Amount = Field(description="positive on the account's normal side (debit or credit)")


class PostingOut(BaseModel):
    account_id: int
    account_code: str
    amount: Amount = Field(description="debit positive, credit negative")


class EntryOut(BaseModel):
    id: int
    client_id: str
    kind: str
    description: str
    currency: str
    reverses_entry_id: int | None
    created_at: UtcTimestamp
    postings: list[PostingOut]


class AccountEntryOut(BaseModel):
    entry_id: int
    client_id: str
    kind: str
    description: str
    created_at: UtcTimestamp
    amount: Amount


class PostingIn(Strict):
    account_id: BodyId
    amount: Amount = Field(description="debit positive, credit negative; not zero")


class EntryCreate(Strict):
    client_id: ClientId
    description: Text = Field(min_length=1, max_length=300)
    postings: list[PostingIn] = Field(min_length=2, max_length=50)


class ReversalCreate(Strict):
    client_id: ClientId
    reason: Text = Field(min_length=1, max_length=200)


# ---------------------------------------------------------------- consumer payments
class PaymentCreate(Strict):
    order_id: BodyId
    amount: PositiveAmount
    method: Method
    client_id: ClientId | None = Field(None, description="your unique id for this payment; a repeat changes nothing")
    reference: Text | None = Field(None, max_length=120)


class RefundCreate(PaymentCreate):
    pass


class CreditSpend(Strict):
    order_id: BodyId
    amount: PositiveAmount | None = Field(None, description="omitted: as much as the credit and the order allow")
    client_id: ClientId | None = Field(None, description="your unique id for this payment; a repeat changes nothing")


class CreditRefund(Strict):
    amount: PositiveAmount | None = Field(None, description="omitted: the refund request's")
    method: Method | None = Field(None, description="omitted: the refund request's")
    request_id: BodyId | None = Field(None, description="the consumer's refund request this pays")
    client_id: ClientId | None = Field(None, description="your unique id for this refund; a repeat changes nothing")


class CreditRefundRequestIn(Strict):
    amount: PositiveAmount | None = Field(None, description="omitted: all of her credit")
    method: Method


class CreditRefundRequestOut(BaseModel):
    id: int
    consumer_account_id: int
    amount: Amount
    method: str
    status: str  # pending | paid
    movement_id: int | None
    created_at: UtcTimestamp


class CreditMovementOut(BaseModel):
    id: int
    kind: str  # banked | spent | refunded
    amount: Amount
    order_id: int | None
    method: str | None
    created_at: UtcTimestamp


class CreditOut(BaseModel):
    consumer_account_id: int
    balance: Amount
    movements: list[CreditMovementOut]
    refund_request: CreditRefundRequestOut | None = None  # her request waiting to be paid


class PaymentOut(BaseModel):
    id: int
    client_id: str
    order_id: int
    kind: str
    method: str
    amount: Amount
    source: str
    reference: str | None
    received_at: UtcTimestamp
    entry_id: int


class OrderBalanceOut(BaseModel):
    order_id: int
    cycle_id: int
    status: str
    cost: Amount
    paid: Amount
    refunded: Amount
    due: Amount = Field(description="negative when the consumer is owed a refund or holds a credit")


class WebhookPayment(Strict):
    event_id: Text = Field(min_length=1, max_length=120)
    order_id: BodyId
    amount: PositiveAmount
    method: Literal["qr", "transfer"]
    paid_at: UtcTimestamp | None = None
    reference: Text | None = Field(None, max_length=120)


class WebhookAnswer(BaseModel):
    payment: PaymentOut
    replayed: bool


# ---------------------------------------------------------------- cycles and producers
class ReceivableHold(Strict):
    consignment_id: BodyId
    correction_id: BodyId


class CycleCoordination(Strict):
    coordinator_account_id: BodyId | None = None
    organization_id: BodyId | None = None
    municipality_code: Text | None = Field(None, max_length=16)


class ProducerProfileIn(Strict):
    name: Text | None = Field(None, max_length=200)
    gender: Literal["female", "male", "other"] | None = None
    municipality_code: Text | None = Field(None, max_length=16)
    organization_id: BodyId | None = None


class ProducerProfileOut(BaseModel):
    producer_id: int
    name: str | None
    gender: str | None
    municipality_code: str | None
    organization_id: int | None


class ReceivableOut(BaseModel):
    id: int
    consignment_id: int
    cycle_id: int
    accepted_value: Amount
    fees: Amount
    amount: Amount
    collected: Amount
    status: str
    advance_id: int | None
    expected_collection_on: date


class UncollectibleIn(Strict):
    reason: Text | None = Field(None, max_length=200)


# ---------------------------------------------------------------- pronto pago
class FinancierCreate(Strict):
    id: BodyId | None = Field(None, description="admins name the financier id; a financier registers her own")
    name: Text = Field(min_length=1, max_length=200)
    kind: Literal["development_bank", "trust_fund", "cooperative", "other"]


class FinancierOut(BaseModel):
    id: int
    name: str
    kind: str


class FundCreate(Strict):
    name: Text = Field(min_length=1, max_length=200)
    cap: PositiveAmount
    kind: Literal["own", "trust_fund"] = Field("own", description="trust_fund: a fideicomiso the financier administers")
    settlor: Text | None = Field(None, max_length=200, description="the fideicomitente who puts the money in")
    beneficiary_organization_ids: list[BodyId] | None = Field(None, max_length=200)


class FundOut(BaseModel):
    id: int
    financier_id: int
    name: str
    cap: Amount
    outstanding_principal: Amount
    account_id: int | None
    kind: str = "own"
    settlor: str | None = None
    beneficiary_organization_ids: list[int] = []


class ContributionCreate(Strict):
    amount: PositiveAmount
    client_id: ClientId | None = Field(None, description="your unique id for this contribution; a repeat changes nothing")
    note: Text | None = Field(None, max_length=300)


class ContributionOut(BaseModel):
    id: int
    fund_id: int
    amount: Amount
    note: str | None
    entry_id: int
    created_at: UtcTimestamp


class PolicyCreate(Strict):
    fund_id: BodyId
    name: Text = Field(min_length=1, max_length=200)
    advance_rate: Decimal = Field(gt=0, le=1, max_digits=6, decimal_places=4, description="0.80 = 80 %")
    fee_kind: Literal["flat", "percent", "daily"]
    fee_value: Decimal = Field(ge=0, le=100000, max_digits=12, decimal_places=4,
                               description="flat: bolivianos per advance; percent: % of principal; daily: % per day")
    min_amount: PositiveAmount
    max_amount: PositiveAmount
    producer_limit: PositiveAmount
    auto_approve_up_to: PositiveAmount | None = None


class PolicyOut(BaseModel):
    id: int
    financier_id: int
    fund_id: int
    name: str
    advance_rate: Decimal
    fee_kind: str
    fee_value: Decimal
    min_amount: Amount
    max_amount: Amount
    producer_limit: Amount
    auto_approve_up_to: Amount | None
    active: bool
    version: int = 1
    series_id: int | None = None
    retired_at: UtcTimestamp | None = None
    cost: str = Field("", description="the administrative cost per advance, in words (es-BO)")
    terms: str = Field("", description="the terms a producer accepts before her first advance under this version")


class PolicyChange(Strict):
    """A new version of a policy: what changes (the rest is kept)."""
    name: Text | None = Field(None, min_length=1, max_length=200)
    advance_rate: Decimal | None = Field(None, gt=0, le=1, max_digits=6, decimal_places=4)
    fee_kind: Literal["flat", "percent", "daily"] | None = None
    fee_value: Decimal | None = Field(None, ge=0, le=100000, max_digits=12, decimal_places=4)
    min_amount: PositiveAmount | None = None
    max_amount: PositiveAmount | None = None
    producer_limit: PositiveAmount | None = None
    auto_approve_up_to: PositiveAmount | None = None


class AcceptanceCreate(Strict):
    producer_id: BodyId
    consent: Text | None = Field(None, max_length=300, description="how she consented, when her organization accepts")


class AcceptanceOut(BaseModel):
    id: int
    policy_id: int
    policy_version: int
    producer_id: int
    accepted_by_account_id: int
    accepted_by_role: str
    organization_id: int | None
    consent: str | None
    fee_kind: str
    fee_value: Decimal
    cost: str
    accepted_at: UtcTimestamp


class AdvanceCreate(Strict):
    producer_id: BodyId
    policy_id: BodyId | None = None
    amount: PositiveAmount | None = None
    receivable_ids: list[BodyId] | None = Field(None, min_length=1, max_length=200)
    consent: Text | None = Field(None, min_length=10, max_length=500, description=(
        "required when her organization asks for her: how and when she agreed, as recorded"))

    @model_validator(mode="after")
    def _one_of(self):
        if self.amount is None and not self.receivable_ids:
            raise ValueError("give an amount or receivable_ids")
        return self


class DecisionIn(Strict):
    reason: Text | None = Field(None, max_length=300)


class MemberStatementOut(BaseModel):
    producer_id: int
    name: str | None
    deliveries: int
    cycles: int
    accepted_value: Amount
    fees: Amount
    amount: Amount = Field(description="what she is owed: accepted value less fees")
    collected: Amount


class OrganizationStatementOut(BaseModel):
    organization_id: int
    members: list[MemberStatementOut]
    totals: dict[str, Amount]


class AdvanceOfferOut(BaseModel):
    """An advance as it would be if asked for now (nothing is written): shown before confirming."""

    producer_id: int
    policy_id: int
    policy_name: str
    financier_id: int
    principal: Amount
    fee: Amount
    repay: Amount = Field(description="principal and fee, taken from her collections")
    expected_collection_on: date
    eligible_value: Amount
    receivable_ids: list[int]


class AdvanceOut(BaseModel):
    id: int
    producer_id: int
    requested_by: int | None = None
    consent: str | None = None
    financier_id: int
    fund_id: int
    policy_id: int
    status: str
    eligible_value: Amount
    principal: Amount
    fee: Amount
    principal_repaid: Amount
    fee_repaid: Amount
    outstanding: Amount
    expected_collection_on: date
    auto_approved: bool
    receivable_ids: list[int]
    reason: str | None
    requested_at: UtcTimestamp
    disbursed_at: UtcTimestamp | None
    terms: AcceptanceOut | None = Field(None, description="the terms the producer accepted for this advance")


class OfferOut(BaseModel):
    policy_id: int
    financier_id: int
    policy_name: str
    min_advance: Amount
    max_advance: Amount
    fee_for_max: Amount
    available: bool
    policy_version: int = 1
    cost: str = ""
    terms: str = ""
    terms_accepted: bool = False


class EligibilityOut(BaseModel):
    producer_id: int
    eligible_value: Amount
    outstanding_principal: Amount
    receivables: list[ReceivableOut]
    offers: list[OfferOut]


Report = dict[str, Any]


# ---------------------------------------------------------------- payouts and organization shares
PayoutMethod = Literal["bank_transfer", "mobile_wallet", "cash"]
Short = Annotated[Text, Field(min_length=1, max_length=80)]


class ShareIn(Strict):
    rate: Decimal = Field(ge=0, le=50, max_digits=6, decimal_places=4,
                          description="percent of each member's accepted sales: 5 = 5 %")
    collects_for_members: bool = Field(False, description="the organization receives its members' payouts")


class ShareOut(BaseModel):
    id: int
    organization_id: int
    rate: Decimal
    collects_for_members: bool
    valid_from: UtcTimestamp
    valid_to: UtcTimestamp | None


class PayableOut(BaseModel):
    producer_id: int
    organization_id: int | None
    collected_by_organization: bool
    sales: Amount
    fees: Amount
    advance_deduction: Amount
    share_rate: Decimal
    organization_share: Amount
    amount: Amount = Field(description="net payable: sales - fees - advance repayment - organization share")
    committed: Amount = Field(description="in payout lines pending or paid")
    paid: Amount


class SettlementOut(BaseModel):
    cycle_id: int
    settled_at: UtcTimestamp
    payables: list[PayableOut]


class PayoutLineIn(Strict):
    producer_id: BodyId | None = None
    organization_id: BodyId | None = Field(None, description="an organization that collects for its members")
    amount: PositiveAmount | None = Field(None, description="default: all that is left to pay")
    method: PayoutMethod
    bank: Short | None = None
    account_number: Annotated[str, Field(min_length=4, max_length=40, pattern=r"^[0-9A-Za-z\- ]+$")] | None = None
    wallet_number: Annotated[str, Field(min_length=7, max_length=20, pattern=r"^\+?[0-9 ]+$")] | None = None

    @model_validator(mode="after")
    def _one_payee(self):
        if (self.producer_id is None) == (self.organization_id is None):
            raise ValueError("each line pays either a producer_id or an organization_id")
        return self


class PayoutBatchIn(Strict):
    cycle_id: BodyId
    lines: list[PayoutLineIn] = Field(min_length=1, max_length=500)


class PayoutPartOut(BaseModel):
    producer_id: int
    amount: Amount


class PayoutLineOut(BaseModel):
    id: int
    batch_id: int
    cycle_id: int
    payee_kind: str
    payee_id: int
    method: str
    bank: str | None
    account_number: str | None
    wallet_number: str | None
    amount: Amount
    status: str
    reference: str | None
    received_by: str | None
    failure_reason: str | None
    retry_of: int | None
    parts: list[PayoutPartOut]


class PayoutBatchOut(BaseModel):
    id: int
    cycle_id: int
    organization_id: int | None
    created_at: UtcTimestamp
    lines: list[PayoutLineOut]


class PayoutPaidIn(Strict):
    reference: Annotated[Text, Field(min_length=1, max_length=120)] | None = None
    received_by: Annotated[Text, Field(min_length=1, max_length=120)] | None = None


class PayoutFailedIn(Strict):
    reason: Annotated[Text, Field(min_length=1, max_length=300)]


class PayoutRetryIn(Strict):
    method: PayoutMethod | None = None
    bank: Short | None = None
    account_number: Annotated[str, Field(min_length=4, max_length=40, pattern=r"^[0-9A-Za-z\- ]+$")] | None = None
    wallet_number: Annotated[str, Field(min_length=7, max_length=20, pattern=r"^\+?[0-9 ]+$")] | None = None
