"""Order placement on PostgreSQL as standalone statements (`Database.standalone`).

Every order placed runs the two units of work of the saga (services/orders/placement.py): the pending
order, then the placed one with its lines and its `order.placed`. Through a session they cost two
transactions and six statements; here they are two statements that each commit by themselves:
1. read the cycle and insert the pending order where the cycle takes it (open, at that point, with
   those products; the Idempotency-Key checked by the insert itself);
2. after the reservation and the booking: lock the cycle against closing, mark the order placed,
   insert its lines and its event, all in one statement, so all or nothing of it is written.
Anything unusual leaves no order behind (nothing is written, or the pending order is failed at once)
and the session path answers it the same way it answers on SQLite: an unknown or closing cycle, a refusal, agrobolsas to expand, a key already
used, a waiting order.
"""

from datetime import datetime
from types import SimpleNamespace

import orjson

from services.common.db import Standalone
from services.common.events import outbox_row
from services.orders.order_events import placed_payload

# the conditions are those of placement.refuse_unless_accepting and requested_lines (which the
# caller still applies to the cycle it gets back); a cycle offering every product keeps JSON null
_PENDING = """
WITH cycle AS MATERIALIZED (
    SELECT * FROM cycles WHERE id = $1
), pending AS (
    INSERT INTO orders (cycle_id, consumer_account_id, consumer_name, delivery_point_id, status, idempotency_key,
                        request_hash, request, line_count, fees, created_at, updated_at)
    SELECT $1, $2, $3, $4, 'pending', $5, $6, $7, $8, '[]', $9, $9 FROM cycle
    WHERE status = 'open' AND opens_at <= $9 AND closes_at > $9
      AND point_ids::jsonb @> to_jsonb($4::bigint)
      AND (product_ids IS NULL OR json_typeof(product_ids) = 'null' OR product_ids::jsonb @> $10::jsonb)
    ON CONFLICT DO NOTHING
    RETURNING id
)
SELECT (SELECT id FROM pending) AS pending_order_id, cycle.* FROM cycle
"""

_ABANDON = """
UPDATE orders SET status = 'failed', idempotency_key = NULL, released_at = $2, updated_at = $2,
                  failure = '{"code": "refused", "message": "the cycle refused it after all"}'
WHERE id = $1 AND status = 'pending'
"""

_LINE_COLUMNS = ("order_id", "line_id", "position", "cycle_id", "delivery_point_id", "basket_id", "product_id",
                 "product_name", "category", "unit", "unit_price", "quantity", "tolerance", "line_total",
                 "case_size", "kg_per_unit", "producer_id", "producer_name", "producer_gender", "organization_id",
                 "municipality_code", "producer_lat", "producer_lon")

# the cycle is share-locked, as the session path does: a cycle closing meanwhile waits for this
# order, or this order sees it closed; `same` says its fee rules and delivery date are still those
# the order was priced with (else nothing is written)
_PLACED = f"""
WITH cycle AS MATERIALIZED (
    SELECT fee_rules::jsonb = $16::jsonb AND delivery_date = $17 AS same
    FROM cycles WHERE id = $1 AND status = 'open' AND closes_at > $2 FOR SHARE
), placed AS (
    UPDATE orders SET status = 'placed', pickup_code = $4, subtotal = $5, fees = $6, fees_total = $7,
                      total = $8, placed_at = $2, updated_at = $2
    WHERE id = $3 AND status = 'pending' AND EXISTS (SELECT 1 FROM cycle WHERE same)
    RETURNING id
), lines AS (
    INSERT INTO order_lines ({", ".join(_LINE_COLUMNS)})
    SELECT {", ".join(f"r.{c}" for c in _LINE_COLUMNS)}
    FROM placed, json_populate_recordset(NULL::order_lines, $9::json) AS r
), event AS (
    INSERT INTO outbox (event_id, event_type, version, aggregate_id, occurred_at, payload)
    SELECT $10, $11, $12, $13, $14, $15::json FROM placed
)
SELECT (SELECT same FROM cycle) AS same, EXISTS (SELECT 1 FROM placed) AS placed
"""


def _json(value) -> str:
    return orjson.dumps(value, default=str).decode()


async def insert_pending(statements: Standalone, *, values: dict, product_ids: list[int]):
    """(the cycle as attributes, like a session's row, or None when there is none; the pending
    order's id, or None when the cycle does not take it now or this consumer's key is taken)."""
    row = await statements.fetchrow(
        _PENDING, values["cycle_id"], values["consumer_account_id"], values["consumer_name"],
        values["delivery_point_id"], values["idempotency_key"], values["request_hash"], _json(values["request"]),
        values["line_count"], values["created_at"], _json(product_ids))
    if row is None:
        return None, None
    cycle = dict(row)
    order_id = cycle.pop("pending_order_id")
    return SimpleNamespace(**cycle), order_id


async def abandon_pending(statements: Standalone, *, order_id: int, now: datetime) -> None:
    """Fail a pending order that holds nothing yet (its key freed, nothing to give back)."""
    await statements.fetchrow(_ABANDON, order_id, now)


async def mark_placed(statements: Standalone, *, order, rows: list[dict], now: datetime, delivery_date,
                      fee_rules: list[dict]) -> str:
    """Mark the pending `order` placed with its lines and its `order.placed`, in one statement.
    Answers "placed", or what stopped it (nothing written): "cycle_closed", "cycle_changed" (its fee
    rules or delivery date, since the order was priced) or "order_abandoned"."""
    _envelope, event = outbox_row(event_type="order.placed", aggregate_id=order.id, payload=placed_payload(
        order=order, lines=rows, placed_at=now, delivery_date=delivery_date))
    row = await statements.fetchrow(
        _PLACED, order.cycle_id, now, order.id, order.pickup_code, order.subtotal, _json(order.fees),
        order.fees_total, order.total, _json(rows), event["event_id"], event["event_type"], event["version"],
        event["aggregate_id"], event["occurred_at"], _json(event["payload"]), _json(fee_rules), delivery_date)
    if row["same"] is None:
        return "cycle_closed"
    if not row["same"]:
        return "cycle_changed"
    if not row["placed"]:
        return "order_abandoned"
    statements.events_emitted = True
    return "placed"
