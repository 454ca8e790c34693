"""Final settlement, organization shares and payout batches, through the payments API: what each
producer is paid, how an organization's share and collection show on both statements, and every
refusal a coordinator can meet (SQLite and PostgreSQL)."""

from decimal import Decimal

import pytest

from services.common.errors import Conflict
from services.payments.corrections import hold_for_correction
from tests.payments import payout_world as w
from tests.payments.helpers import balance_of, ledger_is_consistent


def _cents(value: str) -> int:
    return int(Decimal(value) * 100)


async def _settle(client, keys, cycle=30):
    coordinator = keys.headers("coordinator", account_id=w.COORDINATOR)
    r = await client.post(f"/cycles/{cycle}/settlement/final", headers=coordinator)
    assert r.status_code == 200, r.text
    return r.json()


async def test_final_settlement_takes_fees_advance_and_share_once(db, client, keys):
    await w.build(db)
    first = await _settle(client, keys)
    payable = {p["producer_id"]: p for p in first["payables"]}
    assert {k: _cents(p["amount"]) for k, p in payable.items()} == w.PAYABLE
    assert payable[w.JUANA]["organization_share"] == "2.50"
    assert payable[w.JUANA]["collected_by_organization"] is True
    assert payable[w.ELENA]["advance_deduction"] == "159.94"
    assert await balance_of(db, f"organization:{w.ORGANIZATION}") == w.JUANA_SHARE
    assert await balance_of(db, f"producer_payable:{w.ROSA}") == 9800
    assert await balance_of(db, f"producer:{w.ROSA}") == 0
    again = await _settle(client, keys)  # a repeat answers the same settlement and posts nothing
    assert again["payables"] == first["payables"]
    assert await balance_of(db, f"organization:{w.ORGANIZATION}") == w.JUANA_SHARE
    other = await client.post("/cycles/30/settlement/final", headers=keys.headers("coordinator", account_id=901))
    assert other.status_code == 403
    await ledger_is_consistent(db)


async def test_a_settled_cycle_backs_no_new_advance(db, client, keys):
    await w.build(db)
    await _settle(client, keys)
    found = await client.get(f"/producers/{w.ROSA}/eligibility", headers=keys.headers("producer", producer_id=w.ROSA))
    assert found.json()["receivables"] == []


async def test_batch_csv_paid_and_statements_show_each_payout(db, client, keys):
    await w.build(db)
    await _settle(client, keys)
    coordinator = keys.headers("coordinator", account_id=w.COORDINATOR)
    r = await client.post("/payout-batches", headers=coordinator, json={"cycle_id": 30, "lines": [
        {"producer_id": w.ROSA, "method": "bank_transfer", "bank": "Banco Unión", "account_number": "1-2345678"},
        {"organization_id": w.ORGANIZATION, "method": "bank_transfer", "bank": "BancoSol",
         "account_number": "99887766"},
        {"producer_id": w.ELENA, "method": "mobile_wallet", "wallet_number": "71234567"}]})
    assert r.status_code == 201, r.text
    batch = r.json()
    lines = {(ln["payee_kind"], ln["payee_id"]): ln for ln in batch["lines"]}
    assert lines[("organization", w.ORGANIZATION)]["parts"] == [{"producer_id": w.JUANA, "amount": "46.50"}]
    csv = (await client.get(f"/payout-batches/{batch['id']}/export", headers=coordinator)).text.replace("\r", "")
    rows = [line.split(",") for line in csv.strip().split("\n")]
    assert rows[0][:8] == ["reference", "payee_kind", "payee_id", "method", "bank", "account_number",
                           "wallet_number", "amount"]
    assert sorted((row[1], row[2], row[7]) for row in rows[1:]) == [
        ("organization", "3", "46.50"), ("producer", "7", "98.00"), ("producer", "9", "36.06")]
    assert await balance_of(db, "payouts_in_transit") == 18056
    assert await balance_of(db, f"producer_payable:{w.ROSA}") == 0

    for (_, payee), line in lines.items():
        paid = await client.post(f"/payouts/{line['id']}/paid", headers=coordinator, json={"reference": f"TRX-{payee}"})
        assert paid.status_code == 200, paid.text
        assert paid.json()["status"] == "paid"
    assert await balance_of(db, "payouts_in_transit") == 0
    # consumers paid Bs 350.00, the financier was repaid Bs 159.94, the three payouts left by the bank
    assert await balance_of(db, "bank_clearing") == 35000 - 15994 - 18056

    rosa = (await client.get(f"/producers/{w.ROSA}/statement?cycle_id=30",
                             headers=keys.headers("producer", producer_id=w.ROSA))).json()
    assert rosa["settlement"]["paid_out"] == "98.00" and rosa["settlement"]["left_to_pay"] == "0.00"
    assert [(p["status"], p["amount"], p["reference"]) for p in rosa["payouts"]] == [("paid", "98.00", "TRX-7")]
    juana = (await client.get(f"/producers/{w.JUANA}/statement?cycle_id=30",
                              headers=keys.headers("producer", producer_id=w.JUANA))).json()
    assert juana["settlement"]["organization_share"] == "2.50"
    assert [(p["paid_to"], p["paid_to_id"], p["amount"]) for p in juana["payouts"]] == [
        ("organization", w.ORGANIZATION, "46.50")]
    org = (await client.get(f"/organizations/{w.ORGANIZATION}/statement?cycle_id=30",
                            headers=keys.headers("organization", organization_id=w.ORGANIZATION))).json()
    assert org["totals"] == {"organization_share": "2.50", "received_for_members": "46.50", "account_balance": "2.50"}
    assert org["payouts_received"][0]["split"] == [{"producer_id": w.JUANA, "amount": "46.50"}]
    csv = (await client.get(f"/producers/{w.ROSA}/statement?cycle_id=30&format=csv",
                            headers=keys.headers("producer", producer_id=w.ROSA))).text
    assert "payout," in csv and "paid_out,,,,,,,98.00" in csv.replace("\r", "")
    pdf = await client.get(f"/producers/{w.ROSA}/statement?cycle_id=30&format=pdf",
                           headers=keys.headers("producer", producer_id=w.ROSA))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    await ledger_is_consistent(db)


async def test_a_payout_above_what_is_payable_is_refused_in_spanish(db, client, keys):
    await w.build(db)
    await _settle(client, keys)
    coordinator = keys.headers("coordinator", account_id=w.COORDINATOR)
    too_much = await client.post("/payout-batches", headers=coordinator, json={"cycle_id": 30, "lines": [
        {"producer_id": w.ELENA, "method": "cash"},
        {"producer_id": w.ROSA, "amount": "98.01", "method": "cash"}]})
    assert too_much.status_code == 409
    error = too_much.json()["error"]
    assert error["code"] == "payout_exceeds_payable"
    assert "supera lo pendiente de pago" in error["message"] and "Bs 98,00" in error["message"]
    # all or nothing: Elena's line of the refused batch committed nothing
    assert await balance_of(db, f"producer_payable:{w.ELENA}") == 3606
    through_org = await client.post("/payout-batches", headers=coordinator, json={"cycle_id": 30, "lines": [
        {"producer_id": w.JUANA, "method": "cash"}]})
    assert through_org.status_code == 409 and through_org.json()["error"]["code"] == "paid_through_organization"
    no_account = await client.post("/payout-batches", headers=coordinator, json={"cycle_id": 30, "lines": [
        {"producer_id": w.ROSA, "method": "bank_transfer"}]})
    assert no_account.status_code == 422 and no_account.json()["error"]["code"] == "bank_details_required"
    unsettled = await client.post("/payout-batches", headers=coordinator, json={"cycle_id": 31, "lines": [
        {"producer_id": w.ROSA, "method": "cash"}]})
    assert unsettled.status_code in (403, 404, 409)


async def test_a_failed_payout_is_payable_again_and_retried(db, client, keys):
    await w.build(db)
    await _settle(client, keys)
    coordinator = keys.headers("coordinator", account_id=w.COORDINATOR)
    batch = (await client.post("/payout-batches", headers=coordinator, json={"cycle_id": 30, "lines": [
        {"producer_id": w.ROSA, "amount": "50.00", "method": "bank_transfer", "bank": "BNB",
         "account_number": "0000111"}]})).json()
    line = batch["lines"][0]
    failed = await client.post(f"/payouts/{line['id']}/failed", headers=coordinator, json={"reason": "cuenta cerrada"})
    assert failed.json()["status"] == "failed"
    assert await balance_of(db, f"producer_payable:{w.ROSA}") == 9800
    paid_failed = await client.post(f"/payouts/{line['id']}/paid", headers=coordinator, json={"reference": "x"})
    assert paid_failed.status_code == 409
    retried = await client.post(f"/payouts/{line['id']}/retry", headers=coordinator, json={"method": "cash"})
    assert retried.status_code == 201, retried.text
    assert (retried.json()["amount"], retried.json()["retry_of"]) == ("50.00", line["id"])
    no_name = await client.post(f"/payouts/{retried.json()['id']}/paid", headers=coordinator, json={})
    assert no_name.status_code == 422 and no_name.json()["error"]["code"] == "received_by_required"
    cash = await client.post(f"/payouts/{retried.json()['id']}/paid", headers=coordinator,
                             json={"received_by": "Rosa Quispe, CI 4455667"})
    # consumers paid by transfer: no cash was collected at the points to hand over
    assert cash.status_code == 409 and cash.json()["error"]["code"] == "insufficient_funds"
    assert "efectivo cobrado" in cash.json()["error"]["message"]
    await client.post(f"/payouts/{retried.json()['id']}/failed", headers=coordinator, json={"reason": "sin efectivo"})
    wallet = await client.post(f"/payouts/{retried.json()['id']}/retry", headers=coordinator,
                               json={"method": "mobile_wallet", "wallet_number": "+591 71234567"})
    paid = await client.post(f"/payouts/{wallet.json()['id']}/paid", headers=coordinator, json={"reference": "TM-1"})
    assert paid.json()["status"] == "paid"
    assert await balance_of(db, f"producer_payable:{w.ROSA}") == 4800
    twice = await client.post(f"/payouts/{line['id']}/retry", headers=coordinator, json={})
    assert twice.status_code == 409
    await ledger_is_consistent(db)


async def test_a_new_rate_closes_the_old_one_and_applies_to_later_settlements(db, client, keys):
    org = keys.headers("organization", organization_id=5)
    first = await client.put("/organizations/5/share", headers=org, json={"rate": "5"})
    second = await client.put("/organizations/5/share", headers=org, json={"rate": "3.5", "collects_for_members": True})
    assert first.status_code == second.status_code == 200
    history = (await client.get("/organizations/5/shares", headers=org)).json()
    assert [(h["rate"], h["valid_to"] is None) for h in history] == [("3.5000", True), ("5.0000", False)]
    assert history[1]["valid_to"] == history[0]["valid_from"]
    other = await client.put("/organizations/5/share", headers=keys.headers("organization", organization_id=6),
                             json={"rate": "50"})
    assert other.status_code == 403
    bad = await client.put("/organizations/5/share", headers=org, json={"rate": "80"})
    assert bad.status_code == 422


async def test_a_settled_cycle_backs_no_receipt_correction(db, client, keys):
    """Its payables are fixed (and maybe paid out): correcting a receipt now would change what was paid."""
    await w.build(db)
    await _settle(client, keys)
    with pytest.raises(Conflict) as refused:
        async with db.session() as session:
            await hold_for_correction(session=session, consignment_id=(30 * 100 + w.ROSA) * 10, correction_id=1)
    assert refused.value.code == "receivable_settled"


async def test_an_organization_pays_only_its_own_members(db, client, keys):
    await w.build(db)
    await _settle(client, keys)
    mine = keys.headers("organization", account_id=703, organization_id=w.ORGANIZATION)
    other = await client.post("/payout-batches", headers=mine, json={"cycle_id": 30, "lines": [
        {"producer_id": w.ROSA, "method": "cash"}]})
    assert other.status_code == 403 and other.json()["error"]["code"] == "not_your_member"
    stranger = await client.post("/payout-batches", headers=keys.headers("organization", organization_id=6),
                                 json={"cycle_id": 30, "lines": [{"organization_id": w.ORGANIZATION, "method": "cash"}]})
    assert stranger.status_code == 403
    made = await client.post("/payout-batches", headers=mine, json={"cycle_id": 30, "lines": [
        {"organization_id": w.ORGANIZATION, "method": "mobile_wallet", "wallet_number": "70011223"}]})
    assert made.status_code == 201, made.text
    line = made.json()["lines"][0]
    assert (line["amount"], line["parts"]) == ("46.50", [{"producer_id": w.JUANA, "amount": "46.50"}])
    seen = (await client.get("/cycles/30/payouts", headers=mine)).json()
    assert [s["id"] for s in seen] == [line["id"]]
    coordinator_batch = await client.get(f"/payout-batches/{made.json()['id']}",
                                         headers=keys.headers("coordinator", account_id=w.COORDINATOR))
    assert coordinator_batch.status_code == 200  # the cycle's coordinator sees every payout of her cycle


async def test_each_sees_her_payable_and_the_organization_its_share_account(db, client, keys):
    await w.build(db)
    await _settle(client, keys)
    rosa = (await client.get("/accounts", headers=keys.headers("producer", producer_id=w.ROSA))).json()
    assert {a["code"]: a["balance"] for a in rosa}[f"producer_payable:{w.ROSA}"] == "98.00"
    org_headers = keys.headers("organization", organization_id=w.ORGANIZATION)
    org = (await client.get("/accounts", headers=org_headers)).json()
    assert [(a["code"], a["balance"]) for a in org] == [(f"organization:{w.ORGANIZATION}", "2.50")]
    found = await client.get(f"/accounts/{org[0]['id']}", headers=org_headers)
    assert found.status_code == 200
    other = await client.get(f"/accounts/{org[0]['id']}", headers=keys.headers("organization", organization_id=6))
    assert other.status_code == 403
