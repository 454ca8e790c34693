"""Tables of the delivery service, on its own metadata (see services.common.db.service_base).

Delivery points and their per-cycle capacity rows, slot bookings (held, confirmed, waitlisted, ...)
with pickup codes, the cycles delivery has heard of (from `cycle.closed`), who coordinates each cycle
and which staff accounts work at its points, wrong pickup codes per (staff account, order),
consignments with their lines and corrections, and stored route plans.
"""

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlmodel import Field

from services.common.db import service_base
from services.common.tables import BigId, kernel_tables, utcnow
from services.common.timestamps import UtcDateTime

Base = service_base("delivery")
kernel = kernel_tables(Base.metadata)


class DeliveryPoint(Base, table=True):
    __tablename__ = "delivery_points"
    __table_args__ = (Index("ix_delivery_points_lat_lon", "lat", "lon"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    name: str = Field(sa_column=Column(String(160), nullable=False))
    kind: str = Field(sa_column=Column(String(32), nullable=False))
    address: str = Field(sa_column=Column(String(300), nullable=False))
    municipality_code: str = Field(sa_column=Column(String(12), nullable=False, index=True))
    lat: float = Field(sa_column=Column(Float, nullable=False))
    lon: float = Field(sa_column=Column(Float, nullable=False))
    # [{"weekday": 0..6 (lunes = 0), "opens": "08:00", "closes": "13:00"}, ...]
    schedule: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    contact: str = Field(default="", sa_column=Column(String(200), nullable=False))
    cold_storage: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    active: bool = Field(default=True, sa_column=Column(Boolean, nullable=False))
    max_orders_per_cycle: int = Field(sa_column=Column(Integer, nullable=False))
    # the coordinator account that registered the point (it and admins edit it); None: admins only
    registered_by: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))


class PointCapacity(Base, table=True):
    """Slots of one point in one cycle: `booked` only moves by conditional UPDATEs. `cycle_capacity`
    is the cycle's own override; without one, `capacity` follows the point's `max_orders_per_cycle`."""

    __tablename__ = "point_capacities"

    point_id: int = Field(sa_column=Column(BigId, ForeignKey("delivery_points.id"), primary_key=True))
    cycle_id: int = Field(sa_column=Column(BigInteger, primary_key=True))
    capacity: int = Field(sa_column=Column(Integer, nullable=False))
    booked: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    cycle_capacity: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))


class Booking(Base, table=True):
    """An order's slot at a point for a cycle. Status: held, confirmed, waitlisted, released,
    picked_up, no_show. The id orders the waitlist (first come, first promoted)."""

    __tablename__ = "bookings"
    __table_args__ = (Index("ix_bookings_point_cycle_status", "point_id", "cycle_id", "status", "id"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    order_id: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    point_id: int = Field(sa_column=Column(BigId, ForeignKey("delivery_points.id"), nullable=False))
    cycle_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    status: str = Field(sa_column=Column(String(16), nullable=False))
    consumer_account_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    pickup_code: str | None = Field(default=None, sa_column=Column(String(16), nullable=True, unique=True))
    pickup_failures: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    pickup_locked_until: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))
    confirmed_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    picked_up_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    released_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))


class Cycle(Base, table=True):
    """What delivery knows of an order cycle: its delivery day, from `cycle.closed`."""

    __tablename__ = "cycles"

    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    name: str = Field(default="", sa_column=Column(String(200), nullable=False))
    delivery_date: date = Field(sa_column=Column(Date, nullable=False))
    closed_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))


class CycleOwner(Base, table=True):
    """The coordinator who owns a cycle and the points it serves, as orders says (from `cycle.closed`,
    or asked of orders' `GET /internal/cycles/{id}` the first time delivery needs it)."""

    __tablename__ = "cycle_owners"

    cycle_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    coordinator_account_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    point_ids: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    learned_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))


class PointStaff(Base, table=True):
    """An account the cycle's coordinator assigned to work at one of the cycle's delivery points:
    it receives that point's consignments, checks its pickup codes and marks its no-shows."""

    __tablename__ = "point_staff"
    __table_args__ = (UniqueConstraint("cycle_id", "point_id", "account_id"),
                      Index("ix_point_staff_account_cycle", "account_id", "cycle_id"))

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    cycle_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    point_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    account_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    assigned_by: int = Field(sa_column=Column(BigInteger, nullable=False))
    assigned_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))


class PickupAttempts(Base, table=True):
    """Wrong pickup codes one staff account typed for one order, and its lock: one account's lock
    never stops another allowed account from handing the order over."""

    __tablename__ = "pickup_attempts"

    order_id: str = Field(sa_column=Column(String(64), primary_key=True))
    account_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    failures: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    locked_until: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))


class Consignment(Base, table=True):
    """What one producer brings to one delivery point for one cycle."""

    __tablename__ = "consignments"
    __table_args__ = (UniqueConstraint("producer_id", "cycle_id", "delivery_point_id"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    cycle_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    producer_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    producer_name: str = Field(default="", sa_column=Column(String(200), nullable=False))
    organization_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    delivery_point_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    pickup_lat: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    pickup_lon: float | None = Field(default=None, sa_column=Column(Float, nullable=True))
    status: str = Field(default="pending", sa_column=Column(String(16), nullable=False))  # pending | received
    accepted_value_centavos: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    received_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime()))
    received_by: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class ConsignmentLine(Base, table=True):
    __tablename__ = "consignment_lines"
    __table_args__ = (UniqueConstraint("consignment_id", "product_id"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    consignment_id: int = Field(sa_column=Column(BigId, ForeignKey("consignments.id"), nullable=False))
    product_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    product_name: str = Field(default="", sa_column=Column(String(200), nullable=False))
    unit: str = Field(sa_column=Column(String(16), nullable=False))
    quantity: Decimal = Field(sa_column=Column(Numeric(14, 3), nullable=False))
    unit_price_centavos: int = Field(sa_column=Column(BigInteger, nullable=False))
    kg: Decimal | None = Field(default=None, sa_column=Column(Numeric(14, 3), nullable=True))
    received_quantity: Decimal | None = Field(default=None, sa_column=Column(Numeric(14, 3), nullable=True))
    rejected_quantity: Decimal | None = Field(default=None, sa_column=Column(Numeric(14, 3), nullable=True))
    reject_reason: str | None = Field(default=None, sa_column=Column(String(300), nullable=True))
    accepted_value_centavos: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class ConsignmentPhoto(Base, table=True):
    """The optional photo taken when a consignment was received (a JPEG re-encoded without
    metadata, at most 1280 px a side): what the producer sees beside a rejected line."""

    __tablename__ = "consignment_photos"

    consignment_id: int = Field(sa_column=Column(BigId, ForeignKey("consignments.id"), primary_key=True,
                                                 autoincrement=False))
    content_type: str = Field(default="image/jpeg", sa_column=Column(String(32), nullable=False))
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    taken_by: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))


class ConsignmentCorrection(Base, table=True):
    """A corrected receipt: what was recorded before and after, who corrected it and why."""

    __tablename__ = "consignment_corrections"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    consignment_id: int = Field(sa_column=Column(BigId, ForeignKey("consignments.id"), nullable=False, index=True))
    reason: str = Field(sa_column=Column(String(300), nullable=False))
    corrected_by: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    corrected_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))
    # [{"product_id", "received_quantity", "rejected_quantity", "reject_reason", "accepted_value"}] and totals
    before: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    after: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class RoutePlan(Base, table=True):
    """The latest route plan of a cycle (planning again replaces it)."""

    __tablename__ = "route_plans"

    cycle_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))
    created_by: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    request: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    plan: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
