"""Request and response shapes of the delivery service."""

import re
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from services.common.money import Amount
from services.common.patches import PatchShape, omittable
from services.common.timestamps import UtcTimestamp
from services.common.units import Quantity, UnitField

MAX_ID = 2**53  # ids travel as JSON numbers; beyond this they lose precision in JavaScript clients
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


def _no_control_chars(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text cannot contain NUL characters")
    return value.strip()


Text = Annotated[str, AfterValidator(_no_control_chars)]
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class PointKind(StrEnum):
    feria = "feria"
    tambo = "tambo"
    mercado = "mercado"
    tienda_ecologica = "tienda_ecologica"
    punto_comunitario = "punto_comunitario"
    mercado_movil = "mercado_movil"


class OpeningWindow(BaseModel):
    """One opening window: weekday 0..6 (lunes = 0), local times HH:MM, opens before closes."""

    model_config = ConfigDict(extra="forbid")

    weekday: int = Field(ge=0, le=6, description="0 = lunes ... 6 = domingo")
    opens: str = Field(examples=["08:00"], pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    closes: str = Field(examples=["13:00"], pattern=r"^([01]\d|2[0-3]):[0-5]\d$")

    @model_validator(mode="after")
    def _ordered(self):
        if self.opens >= self.closes:
            raise ValueError(f"a window must open before it closes ({self.opens}–{self.closes})")
        return self


class PointFields(BaseModel):
    name: Annotated[Text, Field(min_length=1, max_length=160)]
    kind: PointKind
    address: Annotated[Text, Field(min_length=1, max_length=300)]
    municipality_code: Annotated[str, Field(pattern=r"^\d{6}$", description="INE code, e.g. 020101")]
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    schedule: list[OpeningWindow] = Field(default_factory=list, max_length=28)
    contact: Annotated[Text, Field(max_length=200)] = ""
    cold_storage: bool = False
    active: bool = True
    max_orders_per_cycle: int = Field(ge=0, le=100_000)


class PointCreate(PointFields):
    model_config = ConfigDict(extra="forbid")


class PointUpdate(PatchShape):
    name: Annotated[Text, Field(min_length=1, max_length=160)] = omittable()
    kind: PointKind = omittable()
    address: Annotated[Text, Field(min_length=1, max_length=300)] = omittable()
    municipality_code: Annotated[str, Field(pattern=r"^\d{6}$")] = omittable()
    lat: float = omittable(ge=-90, le=90)
    lon: float = omittable(ge=-180, le=180)
    schedule: list[OpeningWindow] = omittable(max_length=28)
    contact: Annotated[Text, Field(max_length=200)] | None = Field(default=None, description="null clears it")
    cold_storage: bool = omittable()
    active: bool = omittable()
    max_orders_per_cycle: int = omittable(ge=0, le=100_000)


class PointOut(PointFields):
    id: int
    distance_km: float | None = Field(default=None, description="from `near`, when given")
    created_at: UtcTimestamp
    updated_at: UtcTimestamp


class Availability(BaseModel):
    point_id: int
    cycle_id: int
    capacity: int
    booked: int
    slots_left: int
    waitlisted: int


# --- internal: slot bookings (docs/internal-api.md) ---

OrderId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class BookingRequest(BaseModel):
    order_id: OrderId
    point_id: Id
    cycle_id: Id
    capacity: int | None = Field(default=None, ge=0, le=100_000,
                                 description="the cycle's override of the point's max_orders_per_cycle")
    consumer_account_id: Id | None = Field(default=None, description="optional: lets the consumer fetch her QR")
    confirm: bool = Field(default=False, description="hold and confirm in one step (the slot gets its pickup code)")
    wait_if_full: bool = Field(default=True, description="a full point keeps the order on its waitlist (409 "
                                                         "point_full names its waitlist_id); false keeps nothing")


class BookingMove(BaseModel):
    point_id: Id
    cycle_id: Id
    capacity: int | None = Field(default=None, ge=0, le=100_000,
                                 description="the cycle's override of the target point's max_orders_per_cycle")


class RoomCandidate(BaseModel):
    point_id: Id
    capacity: int | None = Field(default=None, ge=0, le=100_000)


class RoomRequest(BaseModel):
    cycle_id: Id
    from_point_id: Id
    points: list[RoomCandidate] = Field(max_length=100)
    limit: int = Field(default=3, ge=1, le=20)


class PointWithRoom(BaseModel):
    point_id: int
    name: str
    address: str
    distance_km: float
    slots_left: int


class BookingOut(BaseModel):
    order_id: str
    point_id: int
    cycle_id: int
    status: str
    pickup_code: str | None = None


class ConfirmOut(BaseModel):
    order_id: str
    status: str
    pickup_code: str


class ReleaseOut(BaseModel):
    order_id: str
    status: str


# --- pickup ---

class PickupRequest(BaseModel):
    pickup_code: Annotated[str, Field(min_length=1, max_length=32)]
    point_id: Id


class PickupOut(BaseModel):
    order_id: str
    point_id: int
    cycle_id: int
    status: str
    picked_up_at: UtcTimestamp


class PickupListItem(BaseModel):
    order_id: str
    cycle_id: int
    point_id: int
    point_name: str
    delivery_date: date | None
    status: str
    picked_up_at: UtcTimestamp | None


class NoShowOut(BaseModel):
    cycle_id: int
    no_shows: list[str]


# --- consignments ---

class ReceiveLine(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product_id: Id
    received_quantity: Quantity
    rejected_quantity: Quantity = Decimal(0)
    reject_reason: Annotated[Text, Field(max_length=300)] | None = None


class ReceiveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lines: list[ReceiveLine] = Field(min_length=1, max_length=500)
    photo: str | None = Field(None, max_length=1_400_000,
                              description="optional photo of the goods as they arrived: a JPEG, PNG or WebP in "
                                          "base64, at most 1 MB; kept re-encoded (no metadata, at most 1280 px)")


class CorrectionRequest(BaseModel):
    """A corrected receipt: the whole receipt again (lines left out did not arrive) and why."""

    model_config = ConfigDict(extra="forbid")

    lines: list[ReceiveLine] = Field(min_length=1, max_length=500)
    reason: Annotated[Text, Field(min_length=3, max_length=300)]


class StaffAssign(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: Id


class StaffOut(BaseModel):
    cycle_id: int
    point_id: int
    account_id: int
    assigned_by: int
    assigned_at: UtcTimestamp


class ConsignmentLineOut(BaseModel):
    product_id: int
    product_name: str
    unit: UnitField
    ordered_quantity: Quantity
    unit_price: Amount
    kg: Quantity | None
    received_quantity: Quantity | None
    rejected_quantity: Quantity | None
    reject_reason: str | None
    accepted_value: Amount | None


class ConsignmentOut(BaseModel):
    id: int
    cycle_id: int
    producer_id: int
    producer_name: str
    organization_id: int | None
    delivery_point_id: int
    status: str
    accepted_value: Amount | None
    received_at: UtcTimestamp | None
    lines: list[ConsignmentLineOut]
    has_photo: bool = Field(False, description="a photo was taken at receiving: GET /consignments/{id}/photo")


# --- route planning ---

class Coordinates(BaseModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class FleetSpec(BaseModel):
    count: int = Field(ge=1, le=200)
    capacity_kg: float = Field(gt=0, le=100_000)


class RoutePlanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    vehicles: FleetSpec
    depot: Coordinates | None = Field(default=None, description="the hub; the service's default when omitted")
    day_start: str | None = Field(default=None, pattern=r"^([01]\d|2[0-3]):[0-5]\d$",
                                  description="when vehicles may leave the hub (local time)")
    service_minutes: int | None = Field(default=None, ge=0, le=240)
    average_speed_kmh: float | None = Field(default=None, gt=1, le=150)
    max_seconds: float | None = Field(default=None, gt=0, le=30, description="solver time budget")
    collection: bool = Field(default=False, description="also plan the collection routes the day before: "
                             "producers' pickup places -> hub")


class RouteStop(BaseModel):
    sequence: int
    point_id: int
    point_name: str
    load_kg: float
    arrival: str
    window: str
    distance_from_previous_km: float


class PlannedRoute(BaseModel):
    vehicle: int
    stops: list[RouteStop]
    load_kg: float
    capacity_kg: float
    distance_km: float
    departure: str
    return_time: str


class CollectionStop(BaseModel):
    sequence: int
    lat: float
    lon: float
    producer_ids: list[int]
    consignment_ids: list[int]
    name: str
    load_kg: float
    arrival: str
    distance_from_previous_km: float


class CollectionRoute(BaseModel):
    vehicle: int
    stops: list[CollectionStop]
    load_kg: float
    capacity_kg: float
    distance_km: float
    departure: str
    return_time: str


class Collection(BaseModel):
    date: date
    routes: list[CollectionRoute]
    total_distance_km: float
    total_load_kg: float
    without_pickup_place: list[int] = Field(description="consignments with no pickup coordinates: brought to "
                                                        "the hub by their producers")


class RoutePlanOut(BaseModel):
    cycle_id: int
    delivery_date: date
    model: str
    depot: Coordinates
    distance_provider: str
    routes: list[PlannedRoute]
    total_distance_km: float
    total_load_kg: float
    collection: Collection | None = None
    created_at: UtcTimestamp


# --- monitoring ---

class PointDeliveryStats(BaseModel):
    point_id: int
    point_name: str
    kind: str
    municipality_code: str
    orders: int
    picked_up: int
    no_shows: int
    consignments_received: int
    waitlisted: int = Field(0, description="orders still waiting for a slot: not counted in `orders`")


class DeliveryStats(BaseModel):
    municipality: str | None
    date_from: date | None = Field(default=None, alias="from")
    date_to: date | None = Field(default=None, alias="to")
    points: list[PointDeliveryStats]

    model_config = ConfigDict(populate_by_name=True)
