"""Request and response shapes of the orders service."""

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, field_validator, model_validator

from services.common.money import Amount
from services.common.timestamps import UtcTimestamp
from services.common.units import Quantity

Id = Annotated[int, Field(ge=1, le=2**53)]
CycleStatus = Literal["draft", "open", "closed", "consolidated", "delivered", "settled"]
OrderStatus = Literal["pending", "waitlisted", "placed", "packed", "ready", "picked_up", "no_show", "cancelled",
                      "failed"]


def _more_than_zero(quantity: Decimal) -> Decimal:
    if quantity <= 0:
        raise ValueError("quantity must be more than zero")
    return quantity


OrderedQuantity = Annotated[Quantity, AfterValidator(_more_than_zero)]
"""A quantity someone orders (a basket line, an order line): more than zero."""


def _fee_value(value) -> str:
    if isinstance(value, bool):
        raise ValueError("a fee value is a decimal string such as \"2.50\"")
    try:
        dec = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None
    if not dec.is_finite() or dec < 0 or dec > Decimal("1000000"):
        raise ValueError("a fee value is a non-negative number up to 1000000")
    return format(dec, "f")


class FeeRule(BaseModel):
    """A cycle fee: `flat` Bs per order, `percent` of the order's value, Bs `per_item` (order line)
    or Bs `per_kg` of the order's weight."""

    kind: Literal["packing", "transport", "admin"]
    basis: Literal["flat", "percent", "per_item", "per_kg"]
    value: Annotated[str, BeforeValidator(_fee_value)] = Field(examples=["2.50"])
    payer: Literal["consumer", "producer"] = Field(
        "consumer", description="consumer: added to her order (shown in the quote); producer: taken from "
                                "the producer's settlement by payments")

    @model_validator(mode="after")
    def _check(self):
        dec = Decimal(self.value)
        if self.basis == "percent" and dec > 100:
            raise ValueError("a percent fee is at most 100")
        if self.basis != "percent" and dec != dec.quantize(Decimal("0.01")):
            raise ValueError("amounts have at most two decimals (centavos)")
        return self


class CycleCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    opens_at: UtcTimestamp
    closes_at: UtcTimestamp
    delivery_date: date
    delivery_point_ids: list[Id] = Field(min_length=1, max_length=100)
    product_ids: list[Id] | None = Field(None, max_length=5000,
                                         description="offered products; null offers every active product")
    point_capacity: dict[str, Annotated[int, Field(ge=0, le=100000)]] = Field(
        default_factory=dict, description="per delivery point id, the cycle's maximum orders")
    fee_rules: list[FeeRule] = Field(default_factory=list, max_length=20)
    status: Literal["draft", "open"] = "draft"

    @field_validator("delivery_point_ids", "product_ids")
    @classmethod
    def _unique(cls, ids):
        return None if ids is None else list(dict.fromkeys(ids))

    @model_validator(mode="after")
    def _dates(self):
        if self.closes_at <= self.opens_at:
            raise ValueError("closes_at must be after opens_at")
        if self.delivery_date < self.closes_at.date():
            raise ValueError("delivery_date cannot be before the cycle closes")
        for key in self.point_capacity:
            if not key.isdigit() or int(key) not in self.delivery_point_ids:
                raise ValueError(f"point_capacity names point {key!r}, which is not in delivery_point_ids")
        return self


class CycleUpdate(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=200)
    opens_at: UtcTimestamp | None = None
    closes_at: UtcTimestamp | None = None
    delivery_date: date | None = None
    delivery_point_ids: list[Id] | None = Field(None, min_length=1, max_length=100)
    product_ids: list[Id] | None = Field(None, max_length=5000)
    point_capacity: dict[str, Annotated[int, Field(ge=0, le=100000)]] | None = None
    fee_rules: list[FeeRule] | None = Field(None, max_length=20)
    status: CycleStatus | None = None


class CycleOut(BaseModel):
    id: int
    name: str
    coordinator_account_id: int
    status: CycleStatus
    opens_at: UtcTimestamp
    closes_at: UtcTimestamp
    delivery_date: date
    delivery_point_ids: list[int]
    product_ids: list[int] | None
    point_capacity: dict[str, int]
    fee_rules: list[FeeRule]
    created_at: UtcTimestamp
    closed_at: UtcTimestamp | None
    consolidated_at: UtcTimestamp | None


class CyclePage(BaseModel):
    items: list[CycleOut]
    next_cursor: str | None = None


class BasketLine(BaseModel):
    product_id: Id
    quantity: OrderedQuantity


class BasketCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=2000)
    lines: list[BasketLine] = Field(min_length=1, max_length=50)


class BasketOut(BaseModel):
    id: int
    cycle_id: int
    name: str
    description: str
    lines: list[BasketLine]
    active: bool


class OrderLineIn(BaseModel):
    product_id: Id
    quantity: OrderedQuantity
    tolerance: Quantity = Field(Decimal(0), description="extra the consumer would take to fill a case")


class BasketPick(BaseModel):
    basket_id: Id
    count: int = Field(1, ge=1, le=100)


class OrderCreate(BaseModel):
    cycle_id: Id
    delivery_point_id: Id
    lines: list[OrderLineIn] = Field(default_factory=list, max_length=100)
    baskets: list[BasketPick] = Field(default_factory=list, max_length=20)
    wait_if_full: bool = Field(False, description="when the point is full, wait on its list (stock reserved) and "
                                                  "be placed automatically when a slot frees; otherwise a full "
                                                  "point is a 409 naming the nearest points with room")

    @model_validator(mode="after")
    def _something(self):
        if not self.lines and not self.baskets:
            raise ValueError("an order needs at least one line or one agrobolsa")
        return self


class FeeOut(BaseModel):
    kind: str
    basis: str
    value: str
    amount: Amount


class OrderLineOut(BaseModel):
    line_id: str
    product_id: int
    product_name: str
    producer_id: int
    producer_name: str
    unit: str
    quantity: Quantity
    tolerance: Quantity
    allocated_quantity: Quantity | None
    unit_price: Amount
    line_total: Amount
    basket_id: int | None


class OrderOut(BaseModel):
    id: int
    cycle_id: int
    consumer_account_id: int
    delivery_point_id: int
    status: OrderStatus
    pickup_code: str | None
    waitlist_position: int | None = Field(None, description="while waitlisted: 1 is the next to get a slot")
    lines: list[OrderLineOut]
    subtotal: Amount
    fees: list[FeeOut]
    fees_total: Amount
    total: Amount
    paid: bool
    adjustments: list[dict] | None
    created_at: UtcTimestamp
    placed_at: UtcTimestamp | None


class OrderPage(BaseModel):
    items: list[OrderOut]
    next_cursor: str | None = None


class QuoteLineOut(BaseModel):
    product_id: int
    product_name: str
    unit: str
    quantity: Quantity
    tolerance: Quantity
    unit_price: Amount
    line_total: Amount
    basket_id: int | None


class QuoteOut(BaseModel):
    cycle_id: int
    delivery_point_id: int
    lines: list[QuoteLineOut]
    subtotal: Amount
    fees: list[FeeOut]
    fees_total: Amount
    total: Amount


class OrderMove(BaseModel):
    delivery_point_id: Id


class OrderStatusChange(BaseModel):
    status: Literal["packed", "ready", "picked_up", "no_show"]
