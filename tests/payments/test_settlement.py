"""Producer settlement: receivable = accepted value minus the producer's share of the cycle's fees,
rounded half-up to the centavo; statements per producer and cycle as JSON, CSV and PDF."""

from sqlalchemy import select

from services.payments.fees import parse_fee_rules, producer_fees
from services.payments.models import receivables
from tests.payments.helpers import balance_of, close_cycle, deliver, ledger_is_consistent, place_order

P = {"payer": "producer"}
ORDERS_RULES = [{"kind": "packing", "basis": "flat", "value": "2.00"},
                {"kind": "transport", "basis": "per_kg", "value": "0.50"},
                {"kind": "admin", "basis": "percent", "value": "5", "payer": "producer"}]


def test_a_rule_falls_on_producers_only_when_its_payer_says_so():
    rules = parse_fee_rules(ORDERS_RULES)
    assert [(r.name, r.payer) for r in rules] == [("packing", "consumer"), ("transport", "consumer"),
                                                  ("admin", "producer")]
    unsaid = parse_fee_rules([{"kind": "admin", "basis": "percent", "value": "5"}])
    assert unsaid[0].payer == "consumer"  # as in orders: charged on the order, not to the producer
    assert producer_fees(rules=unsaid, accepted_value=10_000, lines=[]) == []


def test_producer_fee_kinds_round_half_up_to_the_centavo():
    lines = [{"received_quantity": "2.5", "rejected_quantity": "0", "unit": "kg"},
             {"received_quantity": "3", "rejected_quantity": "1", "unit": "unidad"}]
    percent = producer_fees(rules=parse_fee_rules([{"kind": "admin", "basis": "percent", "value": "5", **P}]),
                            accepted_value=1130, lines=lines)
    assert percent[0]["amount"] == 57  # 56.5 centavos -> 57 (half-up, not half-even)
    per_kg = producer_fees(rules=parse_fee_rules([{"kind": "admin", "basis": "per_kg", "value": "0.15", **P}]),
                           accepted_value=1130, lines=lines)
    assert per_kg[0]["amount"] == 38  # 2.5 kg x 15 centavos = 37.5 -> 38
    flat = producer_fees(rules=parse_fee_rules([{"kind": "admin", "basis": "flat", "value": "3.00", **P}]),
                         accepted_value=1130, lines=lines)
    assert flat[0]["amount"] == 300
    per_item = producer_fees(rules=parse_fee_rules([{"kind": "admin", "basis": "per_item", "value": "0.25", **P}]),
                             accepted_value=1130, lines=lines)
    assert per_item[0]["amount"] == 50
    capped = producer_fees(rules=parse_fee_rules([{"kind": "admin", "basis": "flat", "value": "30.00", **P}]),
                           accepted_value=1130, lines=lines)
    assert capped[0]["amount"] == 1130  # fees never exceed the accepted value


async def test_delivery_makes_the_receivable_accepted_value_minus_producer_fees(db):
    await close_cycle(db, 20, fee_rules=ORDERS_RULES)
    await place_order(db, 200, 20, consumer=3, lines=[("200-1", 7, 70, "2", "5.65")], fees_total="3.00")
    await deliver(db, 2000, 20, producer=7, lines=[(70, "2", "2", "5.65")])
    async with db.session() as s:
        row = (await s.execute(select(receivables).where(receivables.c.consignment_id == 2000))).one()
    assert (row.accepted_value, row.fees, row.amount) == (1130, 57, 1073)
    assert await balance_of(db, "producer:7") == 1073
    assert await balance_of(db, "platform_fees") == 300 + 57
    assert await balance_of(db, "order_clearing") == 0
    await ledger_is_consistent(db)


async def test_a_repeated_delivery_event_changes_nothing(db):
    await close_cycle(db, 20, fee_rules=ORDERS_RULES)
    await place_order(db, 200, 20, consumer=3, lines=[("200-1", 7, 70, "2", "5.65")])
    await deliver(db, 2000, 20, producer=7, lines=[(70, "2", "2", "5.65")])
    await deliver(db, 2000, 20, producer=7, lines=[(70, "2", "2", "5.65")])
    assert await balance_of(db, "producer:7") == 1073


async def test_short_delivery_fills_the_earliest_orders_first(db):
    await close_cycle(db, 21)
    await place_order(db, 211, 21, consumer=1, lines=[("211-1", 7, 70, "2", "10.00")])
    await place_order(db, 212, 21, consumer=2, lines=[("212-1", 7, 70, "2", "10.00")])
    await deliver(db, 2100, 21, producer=7, lines=[(70, "4", "3", "10.00")])
    assert await balance_of(db, "consumer:1") == 2000
    assert await balance_of(db, "consumer:2") == 1000
    assert await balance_of(db, "producer:7") == 3000
    await ledger_is_consistent(db)


async def test_statement_per_producer_and_cycle_in_json_csv_and_pdf(db, client, keys):
    await close_cycle(db, 22, fee_rules=ORDERS_RULES, consignments=[
        {"producer_id": "7", "producer_name": "Rosa", "lines": [{"product_id": "70", "product_name": "Haba tierna ñuñu"}]}])
    await place_order(db, 220, 22, consumer=3, lines=[("220-1", 7, 70, "2", "5.65")])
    await deliver(db, 2200, 22, producer=7, lines=[(70, "2", "2", "5.65")])
    mine = keys.headers("producer", producer_id=7)
    data = (await client.get("/producers/7/statement?cycle_id=22", headers=mine)).json()
    assert data["totals"]["accepted_value"] == "11.30"
    assert data["totals"]["fees"] == "0.57"
    assert data["totals"]["net_payable"] == "10.73"
    assert data["consignments"][0]["fees"][0]["name"] == "admin"
    csv = await client.get("/producers/7/statement?cycle_id=22&format=csv", headers=mine)
    assert csv.headers["content-type"].startswith("text/csv")
    assert "net_payable,,,,,,,10.73" in csv.text.replace("\r", "")
    assert "line,2200,Haba tierna ñuñu,2,2,0,kg,5.65,11.30" in csv.text.replace("\r", "")
    pdf = await client.get("/producers/7/statement?cycle_id=22&format=pdf", headers=mine)
    assert pdf.content.startswith(b"%PDF")
    other = await client.get("/producers/7/statement?cycle_id=22", headers=keys.headers("producer", producer_id=8))
    assert other.status_code == 403


async def test_a_delivery_before_its_cycle_closed_waits_for_the_fee_rules(db):
    from services.common.errors import Conflict

    await place_order(db, 230, 23, consumer=3, lines=[("230-1", 7, 70, "1", "5.00")])
    try:
        await deliver(db, 2300, 23, producer=7, lines=[(70, "1", "1", "5.00")])
        raise AssertionError("expected a refusal")
    except Conflict as exc:
        assert exc.code == "cycle_not_closed"
    await close_cycle(db, 23)
    await deliver(db, 2300, 23, producer=7, lines=[(70, "1", "1", "5.00")])
    assert await balance_of(db, "producer:7") == 500


async def test_events_as_orders_and_delivery_write_them_are_understood(db):
    """Orders sends ids as strings and the cycle's fee rules as it stores them; delivery sends ints."""
    from tests.payments.helpers import apply

    await apply(db, "cycle.closed", "24", {
        "cycle_id": "24", "name": "Feria del sábado", "delivery_date": "2026-11-28", "fee_rules": ORDERS_RULES,
        "consignments": [{"producer_id": "7", "producer_name": "Rosa Quispe", "organization_id": "3",
                          "delivery_point_id": "2", "pickup": {"lat": -16.5, "lon": -68.1},
                          "lines": [{"product_id": "70", "product_name": "Papa huaycha", "quantity": "4",
                                     "unit": "kg", "unit_price": "6.50", "kg": "4"}]}],
        "bags": [{"order_id": "240", "delivery_point_id": "2", "consumer_account_id": "31"}]})
    await apply(db, "order.placed", "240", {
        "order_id": "240", "cycle_id": "24", "consumer_account_id": "31", "delivery_point_id": "2",
        "lines": [{"line_id": "240-1", "product_id": "70", "producer_id": "7", "quantity": "4", "unit": "kg",
                   "unit_price": "6.50", "line_total": "26.00"}],
        "fees_total": "3.30", "total": "29.30", "placed_at": "2026-11-20T14:03:00+00:00"})
    await apply(db, "consignment.delivered", 55, {
        "consignment_id": 55, "cycle_id": 24, "producer_id": 7, "organization_id": 3, "delivery_point_id": 2,
        "lines": [{"product_id": 70, "ordered_quantity": "4", "received_quantity": "3.8", "rejected_quantity": "0.3",
                   "reject_reason": "golpeada", "unit": "kg", "unit_price": "6.50", "accepted_value": "22.75"}],
        "accepted_value": "22.75", "received_at": "2026-11-28T08:40:00+00:00"})
    # admin 5 % of 22.75 = 1.1375 -> 1.14; the consumer is credited 26.00 - 22.75 = 3.25
    assert await balance_of(db, "producer:7") == 2275 - 114
    assert await balance_of(db, "consumer:31") == 2930 - 325
    assert await balance_of(db, "platform_fees") == 330 + 114
    await ledger_is_consistent(db)


async def test_events_delivered_over_http_are_applied_once(db, client):
    from services.common.events import Envelope

    key = {"X-Service-Key": "test-service-secret", "X-Service-Name": "orders"}
    closed = Envelope(type="cycle.closed", aggregate_id="25", source="orders",
                      payload={"cycle_id": "25", "fee_rules": [], "consignments": [], "bags": []})
    placed = Envelope(type="order.placed", aggregate_id="250", source="orders", payload={
        "order_id": "250", "cycle_id": "25", "consumer_account_id": "8", "delivery_point_id": "1",
        "lines": [{"line_id": "250-1", "product_id": "70", "producer_id": "7", "quantity": "1", "unit": "kg",
                   "unit_price": "9.00", "line_total": "9.00"}], "fees_total": "0.00", "total": "9.00",
        "placed_at": "2026-11-20T10:00:00+00:00"})
    for envelope in (closed, placed, placed):
        r = await client.post("/internal/events", content=envelope.model_dump_json(), headers=key)
        assert r.status_code == 200, r.text
    assert await balance_of(db, "consumer:8") == 900
    assert (await client.post("/internal/events", content=placed.model_dump_json())).status_code == 403
