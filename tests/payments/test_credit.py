"""Consumer credit (saldo a favor): a short delivery or a cancellation after payment becomes credit she
spends on her next order or is paid back; it never goes negative, even when two spends race
(PostgreSQL, real commits)."""

import asyncio

from tests.conftest import live_database, require_postgres
from tests.payments.conftest import payments_client
from tests.payments.helpers import (
    apply,
    balance_of,
    close_cycle,
    deliver,
    emitted,
    ledger_is_consistent,
    place_order,
)

COORDINATOR = 501


async def _paid_order_delivered_short(db, client, keys, *, consumer=9, cycle=10, order=100):
    """She pays Bs 15,00 for 2 kg of papa; 1,5 kg arrive: Bs 3,75 become her credit."""
    await close_cycle(db, cycle, coordinator_account_id=COORDINATOR)
    await place_order(db, order, cycle, consumer=consumer, lines=[(f"{order}-1", 7, 70, "2", "7.50")])
    paid = await client.post("/payments", json={"order_id": order, "amount": "15.00", "method": "cash"},
                             headers=keys.headers("coordinator", account_id=COORDINATOR))
    assert paid.status_code == 201, paid.text
    await deliver(db, 9000 + order, cycle, producer=7, lines=[(70, "2", "1.5", "7.50")])


async def test_a_short_delivery_becomes_credit_that_pays_part_of_her_next_order(db, client, keys):
    await _paid_order_delivered_short(db, client, keys)
    ana = keys.headers("consumer", account_id=9)
    credit = (await client.get("/credit/9", headers=ana)).json()
    assert credit["balance"] == "3.75"
    assert [(m["kind"], m["amount"], m["order_id"]) for m in credit["movements"]] == [("banked", "3.75", 100)]
    # the first order now holds exactly what it cost: nothing to refund there, nothing due
    assert (await client.get("/orders/100/balance", headers=ana)).json()["due"] == "0.00"

    await place_order(db, 101, 10, consumer=9, lines=[("101-1", 7, 70, "2", "10.00")])
    spent = await client.post("/credit/9/spend", json={"order_id": 101}, headers=ana)
    assert spent.status_code == 201, spent.text
    assert (spent.json()["method"], spent.json()["amount"]) == ("credito", "3.75")
    assert (await client.get("/orders/101/balance", headers=ana)).json()["due"] == "16.25"
    credit = (await client.get("/credit/9", headers=ana)).json()
    assert credit["balance"] == "0.00" and [m["kind"] for m in credit["movements"]] == ["spent", "banked"]
    again = await client.post("/credit/9/spend", json={"order_id": 101}, headers=ana)
    assert again.status_code == 409 and again.json()["error"]["code"] == "nothing_to_pay"
    too_much = await client.post("/credit/9/spend", json={"order_id": 101, "amount": "0.01"}, headers=ana)
    assert too_much.status_code == 409 and too_much.json()["error"]["code"] == "insufficient_credit"
    assert await balance_of(db, "consumer_credit:9") == 0
    await ledger_is_consistent(db)


async def test_only_she_reads_and_spends_her_credit_and_only_on_her_orders(db, client, keys):
    await _paid_order_delivered_short(db, client, keys)
    await place_order(db, 102, 10, consumer=8, lines=[("102-1", 7, 70, "1", "10.00")])
    other = keys.headers("consumer", account_id=8)
    assert (await client.get("/credit/9", headers=other)).status_code == 403
    assert (await client.post("/credit/9/spend", json={"order_id": 102}, headers=other)).status_code == 403
    not_hers = await client.post("/credit/9/spend", json={"order_id": 102}, headers=keys.headers("consumer", account_id=9))
    assert not_hers.status_code == 404
    refund = {"amount": "3.75", "method": "cash"}
    coordinator = keys.headers("coordinator", account_id=COORDINATOR)
    assert (await client.post("/credit/9/refunds", json=refund, headers=coordinator)).status_code == 403
    assert await balance_of(db, "consumer_credit:9") == 375


async def test_a_cancelled_paid_order_becomes_credit_an_admin_pays_back(db, client, keys):
    await close_cycle(db, 10, coordinator_account_id=COORDINATOR)
    await place_order(db, 100, 10, consumer=9, fees_total="5.00", lines=[("100-1", 7, 70, "2", "7.50")])
    await client.post("/payments", json={"order_id": 100, "amount": "20.00", "method": "cash"},
                      headers=keys.headers("coordinator", account_id=COORDINATOR))
    await apply(db, "order.cancelled", 100, {"order_id": "100", "cycle_id": "10", "consumer_account_id": "9",
                                             "line_ids": ["100-1"], "total": "20.00", "reason": "viaje"})
    assert await balance_of(db, "consumer:9") == 0
    assert await balance_of(db, "consumer_credit:9") == 2000
    admin = keys.headers("admin", account_id=1)
    over = await client.post("/credit/9/refunds", json={"amount": "20.01", "method": "cash"}, headers=admin)
    assert over.status_code == 409 and over.json()["error"]["code"] == "insufficient_credit"
    body = {"amount": "20.00", "method": "cash", "client_id": "devolucion-1"}
    paid = await client.post("/credit/9/refunds", json=body, headers=admin)
    assert paid.status_code == 201 and paid.json()["kind"] == "refunded"
    assert (await client.post("/credit/9/refunds", json=body, headers=admin)).json()["id"] == paid.json()["id"]
    assert await balance_of(db, "consumer_credit:9") == 0
    assert await balance_of(db, "cash_clearing") == 0
    [told] = await emitted(db, "payment.refunded")
    assert (told["order_id"], told["consumer_account_id"], told["amount"]) == (None, 9, "20.00")
    await ledger_is_consistent(db)


async def test_two_spends_racing_for_the_same_credit_never_take_it_twice(migrated, keys):
    require_postgres()
    url = migrated.url("payments", "postgres")
    async with live_database(url, "payments", pool_size=5) as db:
        async with payments_client(db, keys, url) as client:
            await _paid_order_delivered_short(db, client, keys, consumer=77, cycle=70, order=700)
            for order in (701, 702, 703, 704):
                await place_order(db, order, 70, consumer=77, lines=[(f"{order}-1", 7, 70, "1", "10.00")])
            mine = keys.headers("consumer", account_id=77)
            answers = await asyncio.gather(*[
                client.post("/credit/77/spend", json={"order_id": order, "amount": "3.75"}, headers=mine)
                for order in (701, 702, 703, 704)])
        codes = sorted(r.status_code for r in answers)
        assert codes == [201, 409, 409, 409], [r.text for r in answers]
        assert await balance_of(db, "consumer_credit:77") == 0
        await ledger_is_consistent(db)


async def test_a_corrected_receipt_that_finds_less_becomes_credit_once(db, client, keys):
    from tests.payments.test_corrections import correct, delivered

    await delivered(db)  # she ordered 10 kg at Bs 10,00; all 10 kg were received
    # she paid Bs 90,00 of the Bs 100,00 (a receivable paid in full is no longer corrected)
    paid = await client.post("/payments", json={"order_id": 30, "amount": "90.00", "method": "cash"},
                             headers=keys.headers("admin", account_id=1))
    assert paid.status_code == 201, paid.text
    assert await balance_of(db, "consumer_credit:9") == 0
    await correct(db, 1, "8")  # the scale was wrong: 8 kg
    await correct(db, 1, "8")
    assert await balance_of(db, "consumer_credit:9") == 1000  # Bs 90,00 paid for Bs 80,00 received
    ana = keys.headers("consumer", account_id=9)
    assert (await client.get("/orders/30/balance", headers=ana)).json()["due"] == "0.00"
    assert [m["kind"] for m in (await client.get("/credit/9", headers=ana)).json()["movements"]] == ["banked"]
    await ledger_is_consistent(db)


async def test_she_asks_for_her_credit_back_and_an_admin_pays_that_request_once(db, client, keys):
    await _paid_order_delivered_short(db, client, keys)  # Bs 3,75 of credit
    ana, admin = keys.headers("consumer", account_id=9), keys.headers("admin", account_id=1)
    too_much = await client.post("/credit/9/refund-requests", json={"amount": "3.76", "method": "qr"}, headers=ana)
    assert too_much.status_code == 409 and too_much.json()["error"]["code"] == "insufficient_credit"
    assert (await client.post("/credit/9/refund-requests", json={"method": "qr"},
                              headers=keys.headers("consumer", account_id=8))).status_code == 403
    asked = await client.post("/credit/9/refund-requests", json={"method": "cash"}, headers=ana)
    assert asked.status_code == 201, asked.text
    request = asked.json()
    assert (request["amount"], request["method"], request["status"]) == ("3.75", "cash", "pending")
    twice = await client.post("/credit/9/refund-requests", json={"method": "cash"}, headers=ana)
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "refund_already_requested"
    assert (await client.get("/credit/9", headers=ana)).json()["refund_request"]["id"] == request["id"]
    assert [r["id"] for r in (await client.get("/credit-refund-requests", headers=admin)).json()] == [request["id"]]
    assert (await client.get("/credit-refund-requests", headers=ana)).status_code == 403

    # nothing was collected by QR: that clearing cannot pay it back
    by_qr = await client.post("/credit/9/refunds", json={"request_id": request["id"], "method": "qr"}, headers=admin)
    assert by_qr.status_code == 409 and by_qr.json()["error"]["code"] == "clearing_insufficient"
    paid = await client.post("/credit/9/refunds", json={"request_id": request["id"]}, headers=admin)
    assert paid.status_code == 201, paid.text
    assert (paid.json()["amount"], paid.json()["method"]) == ("3.75", "cash")
    again = await client.post("/credit/9/refunds", json={"request_id": request["id"]}, headers=admin)
    assert again.status_code == 201 and again.json()["id"] == paid.json()["id"]  # the same payment, once
    assert await balance_of(db, "consumer_credit:9") == 0 and await balance_of(db, "cash_clearing") == 1500 - 375
    assert (await client.get("/credit/9", headers=ana)).json()["refund_request"] is None
    assert (await client.get("/credit-refund-requests", headers=admin)).json() == []
    await ledger_is_consistent(db)
