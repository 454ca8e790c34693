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


class FundOut(BaseModel):
    id: int
    financier_id: int
    name: str
    cap: Amount
    outstanding_principal: Amount
    account_id: int | None


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


class OfferOut(BaseModel):
    policy_id: int
    financier_id: int
    policy_name: str
    min_advance: Amount
    max_advance: Amount
    fee_for_max: Amount
    available: bool


class EligibilityOut(BaseModel):
    producer_id: int
    eligible_value: Amount
    outstanding_principal: Amount
    receivables: list[ReceivableOut]
    offers: list[OfferOut]


Report = dict[str, Any]
