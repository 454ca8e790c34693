"""Tables of the orders service, on its own metadata (see services.common.db.service_base).

Plain SQLAlchemy tables: the hot paths (placement, consolidation) are written as SQL statements,
and order lines carry denormalized snapshots (cycle, point, producer, price) so consolidation is
one aggregation without joins to other services.
"""

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from services.common.db import service_base
from services.common.tables import BigId, kernel_tables
from services.common.timestamps import UtcDateTime

Base = service_base("orders")
kernel = kernel_tables(Base.metadata)
metadata = Base.metadata

QTY = Numeric(14, 3)
# orders that count (for consolidation, stock and totals): placed and everything after it but cancelled
ACTIVE_ORDER_STATUSES = ("placed", "packed", "ready", "picked_up", "no_show")

cycles = Table(
    "cycles", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("coordinator_account_id", BigInteger, nullable=False, index=True),
    Column("status", String(16), nullable=False, server_default=text("'draft'")),
    Column("opens_at", UtcDateTime(), nullable=False),
    Column("closes_at", UtcDateTime(), nullable=False),
    Column("delivery_date", Date, nullable=False),
    # delivery point ids served by the cycle (delivery's ids)
    Column("point_ids", JSON, nullable=False),
    # {"<point id>": max orders} overriding the point's own max_orders_per_cycle
    Column("point_capacity", JSON, nullable=False),
    # product ids offered, or null for every active product of the catalog
    Column("product_ids", JSON, nullable=True),
    # [{"kind": "packing"|"transport"|"admin", "basis": "flat"|"percent"|"per_item"|"per_kg", "value": "2.50"}]
    Column("fee_rules", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("closed_at", UtcDateTime(), nullable=True),
    Column("consolidated_at", UtcDateTime(), nullable=True),
    # when coordinators were told the cycle closes soon (`cycle.closing_soon`, once per cycle)
    Column("closing_soon_at", UtcDateTime(), nullable=True),
    Index("ix_cycles_status_closes_at", "status", "closes_at"),
)

baskets = Table(
    "baskets", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("cycle_id", BigInteger, ForeignKey("cycles.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False, server_default=text("''")),
    # [{"product_id": 7, "quantity": "2"}]
    Column("lines", JSON, nullable=False),
    Column("active", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", UtcDateTime(), nullable=False),
)

orders = Table(
    "orders", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("cycle_id", BigInteger, ForeignKey("cycles.id"), nullable=False),
    Column("consumer_account_id", BigInteger, nullable=False),
    Column("consumer_name", String(200), nullable=False, server_default=text("''")),
    Column("delivery_point_id", BigInteger, nullable=False),
    # pending (saga running) -> placed -> packed -> ready -> picked_up | no_show; cancelled; failed;
    # pending -> waitlisted (stock reserved, no slot yet) -> placed (promoted or moved) | cancelled
    Column("status", String(16), nullable=False),
    # placement is safe against retries on its own: one order per consumer and key
    Column("idempotency_key", String(255), nullable=True),
    Column("request_hash", String(64), nullable=False),
    Column("request", JSON, nullable=False),
    Column("line_count", Integer, nullable=False),
    Column("pickup_code", String(32), nullable=True),
    # a waiting order's place on its point's list: delivery's waitlist id (smaller waits less)
    Column("waitlist_seq", BigInteger, nullable=True),
    Column("subtotal", BigInteger, nullable=False, server_default=text("0")),
    Column("fees_total", BigInteger, nullable=False, server_default=text("0")),
    Column("total", BigInteger, nullable=False, server_default=text("0")),
    Column("fees", JSON, nullable=False),
    Column("paid", Boolean, nullable=False, server_default=text("false")),
    Column("failure", JSON, nullable=True),
    # when stock and slot were given back (failed or cancelled orders); null while still owed
    Column("released_at", UtcDateTime(), nullable=True),
    # case allocation cuts told to the consumer: [{"line_id", "product_name", "ordered", "allocated", "cut"}]
    Column("adjustments", JSON, nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("placed_at", UtcDateTime(), nullable=True),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("consumer_account_id", "idempotency_key"),
    Index("ix_orders_cycle_status", "cycle_id", "status"),
    Index("ix_orders_consumer", "consumer_account_id", "id"),
    Index("ix_orders_status_created", "status", "created_at"),
)

order_lines = Table(
    "order_lines", metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("order_id", BigInteger, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False),
    Column("line_id", String(40), nullable=False, unique=True),
    Column("position", Integer, nullable=False),
    Column("cycle_id", BigInteger, nullable=False),
    Column("delivery_point_id", BigInteger, nullable=False),
    Column("basket_id", BigInteger, nullable=True),
    Column("product_id", BigInteger, nullable=False),
    Column("product_name", String(200), nullable=False),
    Column("category", String(100), nullable=True),
    Column("unit", String(16), nullable=False),
    Column("unit_price", BigInteger, nullable=False),
    Column("quantity", QTY, nullable=False),
    Column("tolerance", QTY, nullable=False, server_default=text("0")),
    # what the order gets after case allocation (set at consolidation; equals quantity otherwise)
    Column("allocated_quantity", QTY, nullable=True),
    Column("line_total", BigInteger, nullable=False),
    Column("case_size", QTY, nullable=True),
    Column("kg_per_unit", Numeric(14, 4), nullable=True),
    Column("producer_id", BigInteger, nullable=False),
    Column("producer_name", String(200), nullable=False),
    Column("producer_gender", String(16), nullable=True),
    Column("organization_id", BigInteger, nullable=True),
    Column("municipality_code", String(16), nullable=True),
    Column("producer_lat", Numeric(9, 6), nullable=True),
    Column("producer_lon", Numeric(9, 6), nullable=True),
    Index("ix_order_lines_order", "order_id", "position"),
    Index("ix_order_lines_cycle_product", "cycle_id", "product_id"),
)
