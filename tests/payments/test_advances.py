"""Pronto pago: fees with exact rounding, eligibility, requests, approval, disbursal, limits,
repayment first to the financier, uncollected receivables as the producer's debt, reports, roles."""

from datetime import date

import pytest
from sqlalchemy import select

from services.payments.advances import advance_fee
from services.payments.models import funds
from tests.payments.helpers import (
    accept_terms,
    balance_of,
    close_cycle,
    deliver,
    emitted,
    ledger_is_consistent,
    place_order,
)

ADMIN = {"role": "admin", "account_id": 1}
FIN = 40
COORD = 501


@pytest.mark.parametrize(("kind", "value", "principal", "days", "fee"), [
    ("flat", "12.50", 100000, 10, 1250),
    ("percent", "2.5", 333333, 10, 8333),  # 8333.325 -> 8333
    ("percent", "1.5", 1100, 10, 17),  # 16.5 -> 17 (half-up)
    ("percent", "1.5", 1099, 10, 16),  # 16.485 -> 16
    ("daily", "0.1", 10050, 14, 141),  # 140.7 -> 141
    ("daily", "0.05", 5000, 3, 8),  # 7.5 -> 8 (half-up)
    ("daily", "0.05", 5000, 0, 3),  # at least one day: 2.5 -> 3
])
def test_advance_fee_kinds_round_half_up_to_the_centavo(kind, value, principal, days, fee):
    from datetime import timedelta
    from decimal import Decimal

    today = date(2026, 11, 21)
    assert advance_fee(fee_kind=kind, fee_value=Decimal(value), principal=principal, disbursal_on=today,
                       expected_collection_on=today + timedelta(days=days)) == fee


async def setup_financier(client, keys, *, cap="1000.00", fee_kind="percent", fee_value="2", rate="0.8",
                          min_amount="10.00", max_amount="500.00", producer_limit="600.00", auto="200.00",
                          producers=(7, 8)):
    h = keys.headers("financier", financier_id=FIN)
    r = await client.post("/financiers", json={"name": "Banco de Desarrollo Productivo", "kind": "development_bank"},
                          headers=h)
    assert r.status_code == 201, r.text
    fund = await client.post(f"/financiers/{FIN}/funds", json={"name": "Fideicomiso", "cap": cap}, headers=h)
    assert fund.status_code == 201, fund.text
    policy = await client.post("/advance-policies", headers=h, json={
        "fund_id": fund.json()["id"], "name": "Pronto pago", "advance_rate": rate, "fee_kind": fee_kind,
        "fee_value": fee_value, "min_amount": min_amount, "max_amount": max_amount,
        "producer_limit": producer_limit, "auto_approve_up_to": auto})
    assert policy.status_code == 201, policy.text
    for producer in producers:
        await accept_terms(client, keys, policy_id=policy.json()["id"], producer_id=producer)
    return h, fund.json(), policy.json()


async def delivered_goods(db, *, cycle=30, producer=7, consignments=((3000, "100.00"), (3001, "150.00")), gender=None,
                          municipality=None):
    extra = [{"producer_id": str(producer), "producer_name": "Doña Rosa", "producer_gender": gender,
              "municipality_code": municipality, "organization_id": None, "lines": []}] if gender else []
    await close_cycle(db, cycle, coordinator_account_id=COORD, consignments=extra)
    for i, (consignment, value) in enumerate(consignments):
        order_id = consignment
        await place_order(db, order_id, cycle, consumer=100 + i, lines=[(f"{order_id}-1", producer, 70 + i, "1", value)])
        await deliver(db, consignment, cycle, producer=producer, lines=[(70 + i, "1", "1", value)])


async def receivable_ids(client, keys, producer=7):
    r = await client.get(f"/producers/{producer}/eligibility", headers=keys.headers("producer", producer_id=producer))
    assert r.status_code == 200, r.text
    return [x["id"] for x in r.json()["receivables"]], r.json()


async def test_eligibility_lists_delivered_uncollected_unadvanced_receivables_and_offers(db, client, keys):
    await setup_financier(client, keys)
    await delivered_goods(db)
    ids, body = await receivable_ids(client, keys)
    assert len(ids) == 2 and body["eligible_value"] == "250.00"
    assert body["offers"][0]["max_advance"] == "200.00"  # 80 % of 250
    assert body["offers"][0]["fee_for_max"] == "4.00"
    assert (await client.get("/producers/7/eligibility", headers=keys.headers("producer", producer_id=8))
            ).status_code == 403


async def test_advance_on_chosen_receivables_within_policy_is_approved_and_disbursed_at_once(db, client, keys):
    _, fund, _ = await setup_financier(client, keys)
    await delivered_goods(db)
    ids, _ = await receivable_ids(client, keys)
    r = await client.post("/advances", json={"producer_id": 7, "receivable_ids": ids[:1]},
                          headers=keys.headers("producer", producer_id=7))
    assert r.status_code == 201, r.text
    adv = r.json()
    assert adv["status"] == "disbursed" and adv["auto_approved"]
    assert adv["principal"] == "80.00" and adv["fee"] == "1.60"
    # nobody is asked to approve it; its approval is marked automatic (the disbursal tells the producer)
    assert await emitted(db, "advance.requested") == []
    [approved] = await emitted(db, "advance.approved")
    assert (approved["advance_id"], approved["auto_approved"]) == (adv["id"], True)
    assert await balance_of(db, "producer_advances:7") == 8160
    assert await balance_of(db, f"financier_fund:{fund['id']}") == 100000 - 8000
    assert await balance_of(db, f"financier_fees:{FIN}") == 160
    again, _ = await receivable_ids(client, keys)
    assert again == ids[1:]  # an advanced receivable is no longer eligible
    twice = await client.post("/advances", json={"producer_id": 7, "receivable_ids": ids[:1]},
                              headers=keys.headers("producer", producer_id=7))
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "receivables_not_eligible"
    await ledger_is_consistent(db)


async def test_advance_for_an_amount_above_auto_approval_waits_for_the_financier(db, client, keys):
    h, _, _ = await setup_financier(client, keys, auto="50.00")
    await delivered_goods(db)
    r = await client.post("/advances", json={"producer_id": 7, "amount": "150.00"},
                          headers=keys.headers("producer", producer_id=7))
    assert r.status_code == 201, r.text
    adv = r.json()
    assert adv["status"] == "requested" and len(adv["receivable_ids"]) == 2
    assert adv["fee"] == "3.00"
    [waiting] = await emitted(db, "advance.requested")  # the financier is told it waits for her
    assert (waiting["advance_id"], waiting["financier_id"], waiting["principal"], waiting["fee"]) == (
        adv["id"], FIN, "150.00", "3.00")
    not_yet = await client.post(f"/advances/{adv['id']}/disburse", headers=h)
    assert not_yet.status_code == 409
    other = await client.post(f"/advances/{adv['id']}/approve", headers=keys.headers("financier", financier_id=41))
    assert other.status_code == 403
    producer = await client.post(f"/advances/{adv['id']}/approve", headers=keys.headers("producer", producer_id=7))
    assert producer.status_code == 403
    assert await emitted(db, "advance.approved") == []  # the refused attempts approved nothing
    assert (await client.post(f"/advances/{adv['id']}/approve", headers=h)).json()["status"] == "approved"
    [approved] = await emitted(db, "advance.approved")
    assert (approved["advance_id"], approved["producer_id"], approved["auto_approved"]) == (adv["id"], 7, False)
    done = await client.post(f"/advances/{adv['id']}/disburse", headers=h)
    assert done.json()["status"] == "disbursed"
    assert await balance_of(db, "producer_advances:7") == 15300
    await ledger_is_consistent(db)


async def test_rejected_advance_frees_its_receivables(db, client, keys):
    h, _, _ = await setup_financier(client, keys, auto=None)
    await delivered_goods(db)
    r = await client.post("/advances", json={"producer_id": 7, "amount": "50.00"},
                          headers=keys.headers("producer", producer_id=7))
    adv = r.json()
    assert adv["status"] == "requested"
    rejected = await client.post(f"/advances/{adv['id']}/reject", json={"reason": "documentos"}, headers=h)
    assert rejected.json()["status"] == "rejected"
    ids, _ = await receivable_ids(client, keys)
    assert len(ids) == 2
    assert await balance_of(db, "producer_advances:7") == 0


async def test_policy_limits_minimum_maximum_eligible_value_and_producer_limit(db, client, keys):
    await setup_financier(client, keys, min_amount="20.00", max_amount="150.00", producer_limit="160.00")
    await delivered_goods(db, consignments=((3000, "100.00"), (3001, "150.00"), (3002, "100.00")))
    mine = keys.headers("producer", producer_id=7)
    below = await client.post("/advances", json={"producer_id": 7, "amount": "19.99"}, headers=mine)
    assert below.json()["error"]["code"] == "below_minimum_advance"
    above = await client.post("/advances", json={"producer_id": 7, "amount": "150.01"}, headers=mine)
    assert above.json()["error"]["code"] == "above_maximum_advance"
    ids, _ = await receivable_ids(client, keys)
    over_value = await client.post("/advances", json={"producer_id": 7, "amount": "80.01",
                                                      "receivable_ids": ids[:1]}, headers=mine)
    assert over_value.json()["error"]["code"] == "over_eligible_value"
    ok = await client.post("/advances", json={"producer_id": 7, "amount": "120.00", "receivable_ids": ids[1:2]},
                           headers=mine)
    assert ok.status_code == 201 and ok.json()["status"] == "disbursed"
    limit = await client.post("/advances", json={"producer_id": 7, "amount": "40.01", "receivable_ids": ids[2:]},
                              headers=mine)
    assert limit.json()["error"]["code"] == "producer_limit"
    fits = await client.post("/advances", json={"producer_id": 7, "amount": "40.00", "receivable_ids": ids[2:]},
                             headers=mine)
    assert fits.status_code == 201


async def test_the_fund_cap_is_never_passed(db, client, keys):
    h, fund, _ = await setup_financier(client, keys, cap="100.00", auto=None)
    await delivered_goods(db, producer=7, cycle=30)
    await delivered_goods(db, producer=8, cycle=31, consignments=((3100, "150.00"),))
    a = (await client.post("/advances", json={"producer_id": 7, "amount": "80.00"},
                           headers=keys.headers("producer", producer_id=7))).json()
    b = (await client.post("/advances", json={"producer_id": 8, "amount": "30.00"},
                           headers=keys.headers("producer", producer_id=8))).json()
    for adv in (a, b):
        assert (await client.post(f"/advances/{adv['id']}/approve", headers=h)).status_code == 200
    assert (await client.post(f"/advances/{a['id']}/disburse", headers=h)).status_code == 200
    capped = await client.post(f"/advances/{b['id']}/disburse", headers=h)
    assert capped.status_code == 409 and capped.json()["error"]["code"] == "fund_cap_reached"
    async with db.session() as s:
        row = (await s.execute(select(funds).where(funds.c.id == fund["id"]))).one()
    assert row.outstanding_principal == 8000 <= row.cap


async def test_collection_repays_the_financier_first_principal_then_fee_and_the_rest_is_the_producers(db, client, keys):
    _, fund, _ = await setup_financier(client, keys)
    await delivered_goods(db, consignments=((3000, "100.00"),))
    ids, _ = await receivable_ids(client, keys)
    adv = (await client.post("/advances", json={"producer_id": 7, "receivable_ids": ids},
                             headers=keys.headers("producer", producer_id=7))).json()
    assert (adv["principal"], adv["fee"]) == ("80.00", "1.60")
    coord = keys.headers("coordinator", account_id=COORD)
    part = await client.post("/payments", json={"order_id": 3000, "amount": "50.00", "method": "cash"}, headers=coord)
    assert part.status_code == 201, part.text
    now = (await client.get(f"/advances/{adv['id']}", headers=keys.headers("producer", producer_id=7))).json()
    assert (now["principal_repaid"], now["fee_repaid"], now["status"]) == ("50.00", "0.00", "disbursed")
    await client.post("/payments", json={"order_id": 3000, "amount": "50.00", "method": "qr"}, headers=coord)
    done = (await client.get(f"/advances/{adv['id']}", headers=keys.headers("financier", financier_id=FIN))).json()
    assert (done["principal_repaid"], done["fee_repaid"], done["status"]) == ("80.00", "1.60", "repaid")
    assert await balance_of(db, "producer_advances:7") == 0
    assert await balance_of(db, "producer:7") == 10000 - 8160  # the rest is hers
    assert await balance_of(db, f"financier_fund:{fund['id']}") == 100000 + 160
    assert await balance_of(db, "cash_clearing") == 0 and await balance_of(db, "qr_clearing") == 5000 - 3160
    statement = (await client.get("/producers/7/statement?cycle_id=30",
                                  headers=keys.headers("producer", producer_id=7))).json()
    assert statement["totals"]["repaid_to_financier"] == "81.60"
    assert statement["totals"]["net_payable"] == "18.40"
    await ledger_is_consistent(db)


async def test_an_uncollected_receivable_leaves_the_advance_as_the_producers_debt(db, client, keys):
    await setup_financier(client, keys)
    await delivered_goods(db, consignments=((3000, "100.00"),))
    ids, _ = await receivable_ids(client, keys)
    adv = (await client.post("/advances", json={"producer_id": 7, "receivable_ids": ids},
                             headers=keys.headers("producer", producer_id=7))).json()
    r = await client.post(f"/receivables/{ids[0]}/uncollectible", json={"reason": "consumidora no pagó"},
                          headers=keys.headers(**ADMIN))
    assert r.status_code == 200 and r.json()["status"] == "uncollectible"
    history = (await client.get("/producers/7/advances", headers=keys.headers("producer", producer_id=7))).json()
    assert history[0]["id"] == adv["id"] and history[0]["status"] == "producer_debt"
    assert history[0]["outstanding"] == "81.60"
    assert await balance_of(db, "producer_advances:7") == 8160
    portfolio = (await client.get(f"/financiers/{FIN}/portfolio", headers=keys.headers("financier", financier_id=FIN))
                 ).json()
    assert portfolio["totals"]["producer_debt"] == "81.60"
    assert portfolio["totals"]["outstanding"] == "80.00"


async def test_portfolio_by_producer_and_municipality_with_womens_share_and_anonymous_stats(db, client, keys):
    await setup_financier(client, keys)
    await delivered_goods(db, producer=7, cycle=30, gender="female", municipality="020101")
    await delivered_goods(db, producer=8, cycle=31, consignments=((3100, "50.00"),), gender="male",
                          municipality="020102")
    for producer in (7, 8):
        r = await client.post("/advances", json={"producer_id": producer, "amount": "40.00"},
                              headers=keys.headers("producer", producer_id=producer))
        assert r.status_code == 201, r.text
    mine = keys.headers("financier", financier_id=FIN)
    p = (await client.get(f"/financiers/{FIN}/portfolio", headers=mine)).json()
    assert p["totals"]["outstanding"] == "80.00" and p["totals"]["fees_charged"] == "1.60"
    assert {m["municipality_code"]: m["outstanding"] for m in p["by_municipality"]} == {"020101": "40.00",
                                                                                       "020102": "40.00"}
    assert p["women_share"] == {"value": "0.5000", "producers": "0.5000"}
    assert [x["producer_id"] for x in p["by_producer"]] == [7, 8]
    assert (await client.get(f"/financiers/{FIN}/portfolio", headers=keys.headers("financier", financier_id=41))
            ).status_code == 403
    staff = keys.headers("coordinator")
    stats = (await client.get("/stats/advances?municipality=020101", headers=staff)).json()
    assert stats == {"municipality_code": "020101", "advances": 1, "producers": 1, "value": "40.00", "fees": "0.80",
                     "women_value": "40.00", "women_producers": 1,
                     "women_share": {"value": "1.0000", "producers": "1.0000"}}
    everywhere = (await client.get("/stats/advances?from=2020-01-01", headers=staff)).json()
    assert everywhere["advances"] == 2 and everywhere["women_share"]["value"] == "0.5000"
    assert (await client.get("/stats/advances?to=2020-01-01", headers=staff)).json()["advances"] == 0
    # one producer's advance is hers: a municipality (and nobody anonymous) reads it out of the figures
    assert (await client.get("/stats/advances?municipality=020101")).status_code == 401
    town = (await client.get("/stats/advances?municipality=020101",
                             headers=keys.headers("municipality", municipality_code="020101"))).json()
    assert town["advances"] == 1 and town["value"] is None and town["women_value"] is None
    assert town["women_share"]["value"] is None and town["suppressed"] is True


async def test_each_party_sees_only_her_own_accounts(db, client, keys):
    await setup_financier(client, keys)
    await delivered_goods(db, consignments=((3000, "100.00"),))
    mine = (await client.get("/accounts", headers=keys.headers("producer", producer_id=7))).json()
    assert [a["code"] for a in mine] == ["producer:7"]
    account_id = mine[0]["id"]
    assert (await client.get(f"/accounts/{account_id}", headers=keys.headers("producer", producer_id=7))
            ).json()["balance"] == "100.00"
    entries = (await client.get(f"/accounts/{account_id}/entries", headers=keys.headers("producer", producer_id=7))
               ).json()
    assert entries["items"][0]["amount"] == "100.00"
    assert (await client.get(f"/accounts/{account_id}", headers=keys.headers("producer", producer_id=8))
            ).status_code == 403
    assert (await client.get(f"/accounts/{account_id}", headers=keys.headers("financier", financier_id=FIN))
            ).status_code == 403
    fin = (await client.get("/accounts", headers=keys.headers("financier", financier_id=FIN))).json()
    assert {a["kind"] for a in fin} == {"financier_capital", "financier_fees", "financier_fund"}


async def test_gender_and_municipality_come_from_catalog_when_events_lacked_them(db, keys, backend, migrated):
    import httpx

    from services.common.http import ServiceClient
    from services.payments.app import create_app
    from tests.conftest import app_client, service_settings

    def catalog(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/producers/7"
        return httpx.Response(200, json={"id": 7, "name": "Rosa Mamani", "gender": "female", "phone": None,
                                         "community": None, "municipality_code": "020104", "organization_id": None,
                                         "lat": None, "lon": None})

    clients = {"catalog": ServiceClient("catalog", "http://catalog", secret="s", caller="payments",
                                        transport=httpx.MockTransport(catalog))}
    url = migrated.url("payments", backend)
    app = create_app(service_settings("payments", url), database=db, verifier=keys.verifier, clients=clients)
    async with app_client(app) as client:
        await setup_financier(client, keys)
        await delivered_goods(db, consignments=((3000, "100.00"),))
        r = await client.post("/advances", json={"producer_id": 7, "amount": "50.00"},
                              headers=keys.headers("producer", producer_id=7))
        assert r.status_code == 201, r.text
        stats = (await client.get("/stats/advances?municipality=020104", headers=keys.headers("admin"))).json()
        assert stats["advances"] == 1 and stats["women_share"]["value"] == "1.0000"
        profile = (await client.get("/producers/7/profile", headers=keys.headers("producer", producer_id=7))).json()
        assert profile["name"] == "Rosa Mamani"


async def test_a_producers_debt_is_repaid_from_her_next_collections_before_she_is_paid(db, client, keys):
    await setup_financier(client, keys)
    await delivered_goods(db, consignments=((3000, "100.00"),))
    ids, _ = await receivable_ids(client, keys)
    adv = (await client.post("/advances", json={"producer_id": 7, "receivable_ids": ids},
                             headers=keys.headers("producer", producer_id=7))).json()
    await client.post(f"/receivables/{ids[0]}/uncollectible", json={}, headers=keys.headers(**ADMIN))
    # a later cycle: she delivers Bs 60 and the consumer pays it
    await delivered_goods(db, cycle=32, consignments=((3200, "60.00"),))
    paid = await client.post("/payments", json={"order_id": 3200, "amount": "60.00", "method": "cash"},
                             headers=keys.headers("coordinator", account_id=COORD))
    assert paid.status_code == 201, paid.text
    now = (await client.get(f"/advances/{adv['id']}", headers=keys.headers("producer", producer_id=7))).json()
    assert (now["principal_repaid"], now["fee_repaid"], now["status"]) == ("60.00", "0.00", "producer_debt")
    assert await balance_of(db, "producer_advances:7") == 8160 - 6000
    assert await balance_of(db, "producer:7") == 10000 + 6000 - 6000
    await ledger_is_consistent(db)


async def test_a_fund_with_the_longest_name_allowed_opens_with_its_ledger_account(db, client, keys):
    h = keys.headers("financier", financier_id=FIN)
    assert (await client.post("/financiers", headers=h, json={"name": "B" * 200, "kind": "development_bank"})
            ).status_code == 201
    fund = await client.post(f"/financiers/{FIN}/funds", json={"name": "F" * 200, "cap": "12.50"}, headers=h)
    assert fund.status_code == 201, fund.text
    fund_id = fund.json()["id"]
    assert await balance_of(db, f"financier_fund:{fund_id}") == 1250
