"""Request and response shapes of the catalog service."""

from pydantic import BaseModel, ConfigDict, Field

from services.common.units import Quantity

LineId = str
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
