"""Consumer payments: what an order owes, partial payments, coordinators of the cycle only, the
signed provider webhook, and credits or refunds for cancellations and short deliveries."""

import json
import time

from services.payments.collections import sign_webhook
from services.payments.settings import development_webhook_secret
from tests.payments.helpers import (
    balance_of,
    close_cycle,
    deliver,
    emitted,
    ledger_is_consistent,
    place_order,
)

COORDINATOR = 501


async def _cycle_with_order(db, *, fees_total="5.00"):
    await close_cycle(db, 10, coordinator_account_id=COORDINATOR)
    # 2 kg papa at 7.50 + 3 kg haba at 4.00 = 27.00, plus 5.00 of bag fees = 32.00
    await place_order(db, 100, 10, consumer=9, fees_total=fees_total,
                      lines=[("100-1", 7, 70, "2", "7.50"), ("100-2", 8, 80, "3", "4.00")])


async def test_a_placed_order_is_owed_by_its_consumer_and_its_fees_go_to_the_platform(db):
    await _cycle_with_order(db)
    assert await balance_of(db, "consumer:9") == 3200
    assert await balance_of(db, "order_clearing") == 2700
    assert await balance_of(db, "platform_fees") == 500
    await ledger_is_consistent(db)


async def test_coordinator_records_partial_payments_until_the_order_is_paid(db, client, keys):
    await _cycle_with_order(db)
    h = keys.headers("coordinator", account_id=COORDINATOR)
    first = await client.post("/payments", json={"order_id": 100, "amount": "20.00", "method": "cash",
                                                 "client_id": "recibo-1"}, headers=h)
    assert first.status_code == 201, first.text
    assert first.json()["amount"] == "20.00"
    balance = (await client.get("/orders/100/balance", headers=h)).json()
    assert balance["due"] == "12.00" and balance["paid"] == "20.00"
    too_much = await client.post("/payments", json={"order_id": 100, "amount": "12.01", "method": "qr"}, headers=h)
    assert too_much.status_code == 409 and too_much.json()["error"]["code"] == "overpayment"
    rest = await client.post("/payments", json={"order_id": 100, "amount": "12.00", "method": "transfer"}, headers=h)
    assert rest.status_code == 201
    assert await balance_of(db, "consumer:9") == 0
    assert await balance_of(db, "cash_clearing") == 2000
    assert await balance_of(db, "bank_clearing") == 1200
    await ledger_is_consistent(db)


async def test_the_same_payment_client_id_records_one_payment(db, client, keys):
    await _cycle_with_order(db)
    h = keys.headers("coordinator", account_id=COORDINATOR)
    body = {"order_id": 100, "amount": "10.00", "method": "cash", "client_id": "recibo-7"}
    a = await client.post("/payments", json=body, headers=h)
    b = await client.post("/payments", json=body, headers=h)
    assert a.status_code == b.status_code == 201 and a.json()["id"] == b.json()["id"]
    assert await balance_of(db, "cash_clearing") == 1000


async def test_only_the_cycles_coordinator_records_its_payments(db, client, keys):
    await _cycle_with_order(db)
    body = {"order_id": 100, "amount": "10.00", "method": "cash"}
    other = await client.post("/payments", json=body, headers=keys.headers("coordinator", account_id=999))
    assert other.status_code == 403 and other.json()["error"]["code"] == "not_your_cycle"
    consumer = await client.post("/payments", json=body, headers=keys.headers("consumer", account_id=9))
    assert consumer.status_code == 403
    assert (await client.post("/payments", json=body)).status_code == 401
    unknown = await client.post("/payments", json={**body, "order_id": 12345},
                                headers=keys.headers("coordinator", account_id=COORDINATOR))
    assert unknown.status_code == 404


async def test_an_admin_can_assign_a_cycles_coordinator(db, client, keys):
    await close_cycle(db, 11)
    await place_order(db, 110, 11, consumer=9, lines=[("110-1", 7, 70, "1", "5.00")])
    h = keys.headers("coordinator", account_id=777)
    body = {"order_id": 110, "amount": "5.00", "method": "cash"}
    assert (await client.post("/payments", json=body, headers=h)).status_code == 403
    assigned = await client.put("/cycles/11/coordination", json={"coordinator_account_id": 777},
                                headers=keys.headers("admin", account_id=1))
    assert assigned.status_code == 200
    assert (await client.post("/payments", json=body, headers=h)).status_code == 201


async def test_coordinator_sharing_my_municipality_cannot_record_payments_of_my_cycle(db, client, keys):
    await close_cycle(db, 12, coordinator_account_id=COORDINATOR)
    await place_order(db, 120, 12, consumer=9, lines=[("120-1", 7, 70, "1", "5.00")])
    admin = keys.headers("admin", account_id=1)
    await client.put("/cycles/12/coordination", json={"coordinator_account_id": COORDINATOR,
                                                      "municipality_code": "020101", "organization_id": 3},
                     headers=admin)
    body = {"order_id": 120, "amount": "5.00", "method": "cash"}
    for neighbour in (keys.headers("coordinator", account_id=502, municipality_code="020101"),
                      keys.headers("coordinator", account_id=503, organization_id=3)):
        refused = await client.post("/payments", json=body, headers=neighbour)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_your_cycle"
    mine = await client.post("/payments", json=body, headers=keys.headers("coordinator", account_id=COORDINATOR))
    assert mine.status_code == 201


def _signed(body: dict, *, secret=None, ts=None):
    secret = secret or development_webhook_secret()
    raw = json.dumps(body).encode()
    ts = str(int(ts if ts is not None else time.time()))
    return raw, {"X-Webhook-Timestamp": ts, "X-Webhook-Signature": "sha256=" + sign_webhook(
        secret=secret, timestamp=ts, body=raw), "content-type": "application/json"}


async def test_provider_webhook_is_signed_and_replay_safe(db, client):
    await _cycle_with_order(db)
    notice = {"event_id": "evt-1", "order_id": 100, "amount": "32.00", "method": "qr", "reference": "QR-88"}
    raw, headers = _signed(notice)
    first = await client.post("/webhooks/payments", content=raw, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json()["replayed"] is False
    again = await client.post("/webhooks/payments", content=raw, headers=headers)
    assert again.json()["replayed"] is True and again.json()["payment"]["id"] == first.json()["payment"]["id"]
    assert await balance_of(db, "qr_clearing") == 3200
    raw2, bad = _signed({**notice, "event_id": "evt-2"}, secret="not-the-secret")
    assert (await client.post("/webhooks/payments", content=raw2, headers=bad)).status_code == 403
    raw3, stale = _signed({**notice, "event_id": "evt-3"}, ts=time.time() - 3600)
    assert (await client.post("/webhooks/payments", content=raw3, headers=stale)).status_code == 401
    tampered = {**headers}
    assert (await client.post("/webhooks/payments", content=raw.replace(b"32.00", b"99.00"),
                              headers=tampered)).status_code == 403
    assert (await client.post("/webhooks/payments", content=raw)).status_code == 401
    assert await balance_of(db, "qr_clearing") == 3200
    await ledger_is_consistent(db)


async def test_a_cancelled_paid_order_becomes_her_credit_not_a_refund_on_the_order(db, client, keys):
    from tests.payments.helpers import apply

    await _cycle_with_order(db)
    h = keys.headers("coordinator", account_id=COORDINATOR)
    await client.post("/payments", json={"order_id": 100, "amount": "32.00", "method": "cash"}, headers=h)
    await apply(db, "order.cancelled", 100, {"order_id": "100", "cycle_id": "10", "consumer_account_id": "9",
                                             "line_ids": ["100-1", "100-2"], "total": "32.00", "reason": "viaje"})
    assert await balance_of(db, "consumer:9") == 0
    assert await balance_of(db, "consumer_credit:9") == 3200  # her saldo a favor (tests/payments/test_credit.py)
    assert await balance_of(db, "platform_fees") == 0
    balance = (await client.get("/orders/100/balance", headers=keys.headers("consumer", account_id=9))).json()
    assert balance["due"] == "0.00" and balance["status"] == "cancelled"
    refund = await client.post("/refunds", json={"order_id": 100, "amount": "32.00", "method": "cash"}, headers=h)
    assert refund.status_code == 409 and refund.json()["error"]["code"] == "refund_exceeds_credit"
    assert await emitted(db, "payment.refunded") == []
    await ledger_is_consistent(db)


async def test_an_order_refund_tells_the_consumer(db, client, keys):
    """A refund on the order itself (what a provider overpaid before the credit took it) is announced."""
    from services.payments.collections import record_refund
    from services.payments.order_book import order_due

    await _cycle_with_order(db)
    h = keys.headers("coordinator", account_id=COORDINATOR)
    await client.post("/payments", json={"order_id": 100, "amount": "32.00", "method": "cash"}, headers=h)
    async with db.session() as s:  # a line cancelled in the order book without the event's banking
        from sqlalchemy import update

        from services.payments.models import order_lines
        await s.execute(update(order_lines).where(order_lines.c.line_id == "100-2").values(cancelled=True))
        assert (await order_due(session=s, order_id=100))["due"] == -1200
        refund, created = await record_refund(session=s, order_id=100, amount=1200, method="cash", client_id="r-1")
    assert created and refund.kind == "refund"
    [told] = await emitted(db, "payment.refunded")  # she is told her money came back
    assert (told["order_id"], told["consumer_account_id"], told["amount"], told["method"]) == (100, 9, "12.00", "cash")


async def test_cancelling_some_lines_credits_just_those_lines(db):
    from tests.payments.helpers import apply

    await _cycle_with_order(db)
    await apply(db, "order.cancelled", 100, {"order_id": "100", "cycle_id": "10", "consumer_account_id": "9",
                                             "line_ids": ["100-2"], "total": "12.00", "reason": "sin haba"})
    assert await balance_of(db, "consumer:9") == 2000
    await ledger_is_consistent(db)


async def test_short_delivery_credits_the_consumer_for_what_did_not_arrive(db, client, keys):
    await _cycle_with_order(db)
    # producer 7 brings 1.5 kg of the 2 kg of papa ordered: 3.75 Bs short
    await deliver(db, 900, 10, producer=7, lines=[(70, "2", "1.5", "7.50")])
    assert await balance_of(db, "consumer:9") == 3200 - 375
    assert await balance_of(db, "producer:7") == 1125
    balance = (await client.get("/orders/100/balance", headers=keys.headers("consumer", account_id=9))).json()
    assert balance["due"] == "28.25"
    await ledger_is_consistent(db)


async def test_a_cancellation_that_overtakes_its_placement_leaves_nothing_owed_whichever_comes_first(db, client, keys):
    """Over NATS an order's order.cancelled can arrive before its order.placed (a redelivery after a
    puller died holding the placement): the order stays cancelled and nothing is owed or posted."""
    from tests.payments.helpers import apply

    await close_cycle(db, 10, coordinator_account_id=COORDINATOR)
    assert await apply(db, "order.cancelled", 100, {
        "order_id": "100", "cycle_id": "10", "consumer_account_id": "9", "delivery_point_id": 1,
        "line_ids": ["100-1", "100-2"], "total": "32.00", "reason": "cancelled_by_consumer",
        "previous_status": "placed"})
    await place_order(db, 100, 10, consumer=9, fees_total="5.00",
                      lines=[("100-1", 7, 70, "2", "7.50"), ("100-2", 8, 80, "3", "4.00")])
    assert await balance_of(db, "consumer:9") == 0
    assert await balance_of(db, "order_clearing") == 0 and await balance_of(db, "platform_fees") == 0
    balance = (await client.get("/orders/100/balance", headers=keys.headers("consumer", account_id=9))).json()
    assert balance["status"] == "cancelled" and balance["due"] == "0.00"
    await ledger_is_consistent(db)
