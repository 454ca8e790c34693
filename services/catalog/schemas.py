"""Request and response shapes of the catalog service."""

from datetime import date
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from services.catalog.models import (
    Category,
    CertificationKind,
    CertificationStatus,
    Gender,
    LegalForm,
    Maturity,
    ValueChainStage,
)
from services.common.money import PositiveAmount
from services.common.patches import PatchShape, omittable
from services.common.timestamps import UtcTimestamp
from services.common.units import Quantity, UnitField

MAX_ID = 2**53  # larger ids cannot exist and would overflow SQLite


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- internal: stock reservation -------------------------------------------------------------

class ReservationLineIn(Strict):
    line_id: str = Field(min_length=1, max_length=64)
    product_id: int = Field(ge=1, le=MAX_ID)
    quantity: Quantity


class ReservationIn(Strict):
    order_id: str = Field(min_length=1, max_length=64)
    lines: list[ReservationLineIn] = Field(min_length=1, max_length=500)


class ReservedProducer(BaseModel):
    id: int
    name: str
    gender: str
    organization_id: int | None
    municipality_code: str
    lat: float | None
    lon: float | None


class ReservedLine(BaseModel):
    line_id: str
    product_id: int
    quantity: str
    unit: str
    unit_price: str
    product_name: str
    category: str
    case_size: str | None
    kg_per_unit: str | None
    producer: ReservedProducer


class ReservationOut(BaseModel):
    lines: list[ReservedLine]


class LineIdsIn(Strict):
    line_ids: list[str] = Field(max_length=1000)


class ReleasedOut(BaseModel):
    released: list[str]


class CommittedOut(BaseModel):
    committed: list[str]


class AdjustIn(Strict):
    line_id: str = Field(min_length=1, max_length=64)
    quantity: Quantity


class AdjustOut(BaseModel):
    line_id: str
    product_id: int
    quantity: str
    returned: str
    status: str


# --- municipalities, organizations, producers ------------------------------------------------

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9 ]{7,20}$")]
IneCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")]
Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]
Count = Annotated[int, Field(ge=0, le=1_000_000)]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


class MunicipalityIn(Strict):
    code: IneCode = Field(description="INE code (department, province, section), e.g. 020101")
    name: ShortText
    province: ShortText
    department: ShortText
    lat: Latitude | None = None
    lon: Longitude | None = None


class MunicipalityOut(BaseModel):
    code: str
    name: str
    province: str
    department: str
    lat: float | None
    lon: float | None


class OrganizationIn(Strict):
    name: Name
    legal_form: LegalForm
    nit: Annotated[str, StringConstraints(pattern=r"^[0-9]{5,15}$")] | None = None
    legal_papers: list[ShortText] = Field(default_factory=list, max_length=20,
                                          description="papers held, e.g. personería jurídica")
    maturity: Maturity
    value_chain_stage: ValueChainStage
    municipality_code: IneCode
    member_count: Count = 0
    women_count: Count = 0
    phone: Phone | None = None
    whatsapp: Phone | None = None


class OrganizationPatch(PatchShape):
    name: Name = omittable()
    legal_form: LegalForm = omittable()
    nit: Annotated[str, StringConstraints(pattern=r"^[0-9]{5,15}$")] | None = None
    legal_papers: list[ShortText] = omittable(max_length=20)
    maturity: Maturity = omittable()
    value_chain_stage: ValueChainStage = omittable()
    member_count: Count = omittable()
    women_count: Count = omittable()
    phone: Phone | None = None
    whatsapp: Phone | None = None


class OrganizationOut(BaseModel):
    id: int
    name: str
    legal_form: str
    nit: str | None
    legal_papers: list[str]
    maturity: str
    value_chain_stage: str
    municipality_code: str
    member_count: int
    women_count: int
    phone: str | None
    whatsapp: str | None


class ProducerIn(Strict):
    name: Name
    gender: Gender
    phone: Phone | None = None
    community: ShortText | None = None
    municipality_code: IneCode
    organization_id: Id | None = None
    lat: Latitude | None = None
    lon: Longitude | None = None


class ProducerEnrolmentIn(Strict):
    """Internal (gateway): the registry record of a producer who registered her own account."""

    name: Name
    gender: Gender
    phone: Phone | None = None
    community: ShortText | None = None
    municipality_code: IneCode


class ProducerPatch(PatchShape):
    name: Name = omittable()
    gender: Gender = omittable()
    phone: Phone | None = None
    community: ShortText | None = None
    organization_id: Id | None = None
    lat: Latitude | None = None
    lon: Longitude | None = None


class ProducerOut(BaseModel):
    id: int
    name: str
    gender: str
    phone: str | None
    community: str | None
    municipality_code: str
    organization_id: int | None
    lat: float | None
    lon: float | None


# --- memberships -----------------------------------------------------------------------------

class MembershipIn(Strict):
    organization_id: Id


class MembershipOut(BaseModel):
    id: int
    producer_id: int
    organization_id: int
    status: str = Field(description="pending, confirmed or rejected")
    requested_at: UtcTimestamp
    decided_at: UtcTimestamp | None


# --- certifications --------------------------------------------------------------------------

class CertificationIn(Strict):
    kind: CertificationKind
    status: CertificationStatus = CertificationStatus.en_proceso
    issuer: Name = Field(description="e.g. Comité Ecológico Municipal de Achocalla")
    valid_until: date | None = None
    categories: list[Category] = Field(default_factory=list, max_length=11,
                                       description="categories covered; empty covers every product")


class CertificationPatch(PatchShape):
    status: CertificationStatus = omittable()
    valid_until: date | None = None
    note: Annotated[str, StringConstraints(max_length=500)] | None = None


class CertificationChangeOut(BaseModel):
    status: str
    valid_until: date | None
    note: str | None
    changed_at: UtcTimestamp


class CertificationOut(BaseModel):
    id: int
    producer_id: int | None
    organization_id: int | None
    kind: str
    status: str
    issuer: str
    valid_until: date | None
    categories: list[str]
    valid_today: bool
    history: list[CertificationChangeOut]


# --- products and prices ---------------------------------------------------------------------

MAX_PRICE = Decimal("50000")  # Bs per sale unit: above this a price is a typing error


def _sane_price(value: Decimal) -> Decimal:
    if value <= 0:
        raise ValueError("a price must be more than zero")
    if value > MAX_PRICE:
        raise ValueError(f"a price over Bs {MAX_PRICE} per unit is surely a typing error")
    return value


Price = Annotated[PositiveAmount, AfterValidator(_sane_price)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]


class ProductIn(Strict):
    producer_id: Id | None = Field(default=None, description="defaults to the producer in your token")
    name: Name
    category: Category
    description: Description | None = None
    unit: UnitField
    price: Price
    available: Quantity = Decimal(0)
    min_order_quantity: Quantity = Decimal(1)
    case_size: Quantity | None = None
    active: bool = True


class ProductPatch(PatchShape):
    name: Name = omittable()
    category: Category = omittable()
    description: Description | None = None
    unit: UnitField = omittable()
    price: Price = omittable()
    available: Quantity = omittable()
    min_order_quantity: Quantity = omittable()
    case_size: Quantity | None = None
    active: bool = omittable()


class ProductOut(BaseModel):
    id: int
    producer_id: int
    producer_name: str
    municipality_code: str
    organization_id: int | None
    name: str
    category: str
    category_label: str
    description: str | None
    unit: str
    base_unit: str
    base_per_unit: str
    price: str
    available: str
    reserved: str
    sold: str
    min_order_quantity: str
    case_size: str | None
    active: bool
    certified: bool
    certifications: list[str]
    photo_url: str | None
    thumbnail_url: str | None
    created_at: UtcTimestamp
    updated_at: UtcTimestamp


class PriceChangeOut(BaseModel):
    price: str
    unit: str
    changed_at: UtcTimestamp


class CategoryOut(BaseModel):
    slug: str
    label: str


class ReferencePriceIn(Strict):
    """A new version of a reference price: it closes the one of the same product (or category) and
    unit in force before it (that one's `valid_to` becomes this one's `valid_from`)."""

    municipality_code: IneCode
    category: Category | None = None
    product_name: Name | None = None
    unit: UnitField
    price: Price
    band_min: Price | None = None  # the least a producer should be paid
    band_max: Price | None = None  # the most a consumer should pay
    valid_from: date | None = None  # today (Bolivia) when not given


class ReferencePriceOut(BaseModel):
    id: int
    municipality_code: str
    category: str | None
    product_name: str | None
    unit: str
    price: str
    band_min: str | None
    band_max: str | None
    valid_from: date
    valid_to: date | None  # the first day it is no longer valid; None while open
    created_at: UtcTimestamp


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict


class ErrorOut(BaseModel):
    error: ErrorBody


ERROR_RESPONSES = {status: {"model": ErrorOut, "description": text} for status, text in (
    (400, "bad request"), (401, "log in first"), (403, "not allowed"), (404, "not found"),
    (409, "conflict"), (413, "too large"), (422, "invalid input"))}


class SupplyStatsOut(BaseModel):
    """Aggregates only; never names or phones."""

    scope: dict
    producers: dict
    organizations: dict
    offer: dict
    prices: list[dict]
