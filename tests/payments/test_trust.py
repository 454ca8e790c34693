"""The trust fund (fideicomiso) with terms the producer accepted: a settlor's money in, versioned
policies with their administrative cost, acceptance before the first advance (by her or by her
organization with her consent), the terms printed on each advance, and the fund's report."""

from services.payments.models import fund_contributions
from tests.payments.helpers import accept_terms, balance_of, ledger_is_consistent
from tests.payments.test_advances import ADMIN, COORD, FIN, delivered_goods, receivable_ids

ORG, OTHER_ORG = 3, 4


async def trust_fund(client, keys, *, cap="1000.00", auto="200.00", fee_value="2", max_amount="500.00",
                     producer_limit="600.00"):
    """Financier FIN is the trustee of a fideicomiso whose settlor is the municipality, for organization 3."""
    h = keys.headers("financier", financier_id=FIN)
    assert (await client.post("/financiers", json={"name": "Banco Fiduciario", "kind": "trust_fund"},
                              headers=h)).status_code == 201
    fund = await client.post(f"/financiers/{FIN}/funds", headers=h, json={
        "name": "Fideicomiso Alimentar", "cap": cap, "kind": "trust_fund",
        "settlor": "Gobierno Autónomo Municipal de La Paz", "beneficiary_organization_ids": [ORG]})
    assert fund.status_code == 201, fund.text
    policy = await client.post("/advance-policies", headers=h, json={
        "fund_id": fund.json()["id"], "name": "Pronto pago", "advance_rate": "0.8", "fee_kind": "percent",
        "fee_value": fee_value, "min_amount": "10.00", "max_amount": max_amount, "producer_limit": producer_limit,
        "auto_approve_up_to": auto})
    assert policy.status_code == 201, policy.text
    return h, fund.json(), policy.json()


async def member(client, keys, producer: int, *, organization=ORG, gender="female"):
    r = await client.put(f"/producers/{producer}/profile", json={"organization_id": organization, "gender": gender},
                         headers=keys.headers(**ADMIN))
    assert r.status_code == 200, r.text


async def test_a_trust_fund_names_settlor_and_beneficiaries_and_the_settlors_money_is_posted(db, client, keys):
    h, fund, _ = await trust_fund(client, keys)
    assert (fund["kind"], fund["settlor"], fund["beneficiary_organization_ids"]) == (
        "trust_fund", "Gobierno Autónomo Municipal de La Paz", [ORG])
    incomplete = await client.post(f"/financiers/{FIN}/funds", headers=h,
                                   json={"name": "Sin fideicomitente", "cap": "10.00", "kind": "trust_fund"})
    assert incomplete.status_code == 422 and incomplete.json()["error"]["code"] == "trust_fund_incomplete"
    body = {"amount": "500.00", "client_id": "aporte-2026-11", "note": "segundo desembolso del fideicomitente"}
    added = await client.post(f"/funds/{fund['id']}/contributions", json=body, headers=h)
    assert added.status_code == 201, added.text
    again = await client.post(f"/funds/{fund['id']}/contributions", json=body, headers=h)
    assert again.json()["id"] == added.json()["id"]  # a repeat changes nothing
    clash = await client.post(f"/funds/{fund['id']}/contributions", headers=h,
                              json={**body, "amount": "1.00"})
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "contribution_conflict"
    assert await balance_of(db, f"financier_fund:{fund['id']}") == 150000
    assert await balance_of(db, f"financier_capital:{FIN}") == 150000
    view = (await client.get(f"/funds/{fund['id']}", headers=h)).json()
    assert (view["money_in"], view["contributions"], view["committed"], view["available"]) == (
        "1500.00", "500.00", "0.00", "1500.00")
    other = keys.headers("financier", financier_id=FIN + 1)
    assert (await client.get(f"/funds/{fund['id']}", headers=other)).status_code == 403
    assert (await client.post(f"/funds/{fund['id']}/contributions", json={"amount": "1.00"},
                              headers=other)).status_code == 403
    async with db.session() as s:
        assert len((await s.execute(fund_contributions.select())).all()) == 1
    await ledger_is_consistent(db)


async def test_an_advance_needs_the_accepted_terms_which_are_printed_on_it(db, client, keys):
    _, fund, policy = await trust_fund(client, keys, auto=None)
    await member(client, keys, 7)
    await delivered_goods(db)
    _, offer = await receivable_ids(client, keys)
    assert offer["offers"][0]["terms_accepted"] is False
    assert "Costo administrativo: 2 % del adelanto" in offer["offers"][0]["terms"]
    mine = keys.headers("producer", producer_id=7)
    refused = await client.post("/advances", json={"producer_id": 7, "amount": "50.00"}, headers=mine)
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "terms_not_accepted" and error["message"].startswith("Antes de pedir un adelanto acepte")
    assert error["details"]["version"] == 1
    accepted = await accept_terms(client, keys, policy_id=policy["id"], producer_id=7)
    assert (accepted["accepted_by_role"], accepted["policy_version"], accepted["cost"]) == (
        "producer", 1, "2 % del adelanto")
    adv = await client.post("/advances", json={"producer_id": 7, "amount": "50.00"}, headers=mine)
    assert adv.status_code == 201, adv.text
    printed = adv.json()["terms"]
    assert printed["id"] == accepted["id"] and printed["accepted_at"] and printed["fee_value"] == "2.0000"
    seen = (await client.get(f"/advances/{adv.json()['id']}", headers=keys.headers("financier", financier_id=FIN)))
    assert seen.json()["terms"]["accepted_by_account_id"] == accepted["accepted_by_account_id"]
    assert (await client.get("/producers/7/advances", headers=mine)).json()[0]["terms"]["policy_version"] == 1
    statement = (await client.get("/producers/7/statement?cycle_id=30", headers=mine)).json()
    assert statement["advances"][0]["terms"].startswith("Condiciones aceptadas por la productora el ")
    assert statement["advances"][0]["terms"].endswith("versión 1, costo administrativo 2 % del adelanto")
    pdf = await client.get("/producers/7/statement?cycle_id=30&format=pdf", headers=mine)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert fund["id"] == adv.json()["fund_id"]


async def test_a_new_version_keeps_the_old_one_and_needs_a_new_acceptance(db, client, keys):
    h, _, v1 = await trust_fund(client, keys)
    await member(client, keys, 7)
    await delivered_goods(db)
    await accept_terms(client, keys, policy_id=v1["id"], producer_id=7)
    changed = await client.post(f"/advance-policies/{v1['id']}/versions", headers=h,
                                json={"fee_value": "3", "name": None, "auto_approve_up_to": None})
    assert changed.status_code == 201, changed.text
    v2 = changed.json()
    assert (v2["version"], v2["fee_value"], v2["advance_rate"], v2["active"]) == (2, "3.0000", "0.8000", True)
    assert (v2["name"], v2["auto_approve_up_to"]) == (v1["name"], None)  # a null name keeps it; null auto clears
    bad = await client.post(f"/advance-policies/{v2['id']}/versions", json={"min_amount": "900.00"}, headers=h)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_limits"
    history = (await client.get(f"/advance-policies/{v2['id']}/history", headers=h)).json()
    assert [(p["version"], p["active"], p["cost"]) for p in history] == [
        (1, False, "2 % del adelanto"), (2, True, "3 % del adelanto")]
    assert history[0]["retired_at"] is not None
    stale = await client.post(f"/advance-policies/{v1['id']}/versions", json={"fee_value": "4"}, headers=h)
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "policy_inactive"
    mine = keys.headers("producer", producer_id=7)
    refused = await client.post("/advances", json={"producer_id": 7, "policy_id": v2["id"], "amount": "50.00"},
                                headers=mine)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "terms_not_accepted"
    assert refused.json()["error"]["details"]["version"] == 2
    old = await client.post(f"/advance-policies/{v1['id']}/acceptances", json={"producer_id": 7}, headers=mine)
    assert old.status_code == 409 and old.json()["error"]["code"] == "policy_inactive"
    await accept_terms(client, keys, policy_id=v2["id"], producer_id=7)
    adv = await client.post("/advances", json={"producer_id": 7, "policy_id": v2["id"], "amount": "50.00"},
                            headers=mine)
    assert adv.status_code == 201 and adv.json()["fee"] == "1.50" and adv.json()["terms"]["policy_version"] == 2
    assert (await client.delete(f"/advance-policies/{v1['id']}",
                                headers=keys.headers("financier", financier_id=FIN + 1))).status_code == 403
    retired = await client.delete(f"/advance-policies/{v1['id']}", headers=h)  # any version ends the policy
    assert retired.status_code == 200 and (retired.json()["id"], retired.json()["active"]) == (v2["id"], False)
    late = await client.post("/advances", json={"producer_id": 7, "policy_id": v2["id"], "amount": "10.00"},
                             headers=mine)
    assert late.status_code == 409 and late.json()["error"]["code"] == "policy_inactive"


async def test_her_organization_accepts_for_her_only_with_her_consent_and_only_for_its_members(db, client, keys):
    _, _, policy = await trust_fund(client, keys)
    await member(client, keys, 7)
    await member(client, keys, 8, organization=OTHER_ORG, gender="male")
    org = keys.headers("organization", account_id=703, organization_id=ORG)
    url = f"/advance-policies/{policy['id']}/acceptances"
    no_consent = await client.post(url, json={"producer_id": 7}, headers=org)
    assert no_consent.status_code == 422 and no_consent.json()["error"]["code"] == "consent_required"
    not_ours = await client.post(url, json={"producer_id": 8, "consent": "acta 12"}, headers=org)
    assert not_ours.status_code == 403
    ok = await client.post(url, json={"producer_id": 7, "consent": "Acta de asamblea del 12/11/2026, firmada"},
                           headers=org)
    assert ok.status_code == 201, ok.text
    assert (ok.json()["accepted_by_role"], ok.json()["organization_id"], ok.json()["accepted_by_account_id"]) == (
        "organization", ORG, 703)
    outsider = await client.post(url, json={"producer_id": 8}, headers=keys.headers("producer", producer_id=8))
    assert outsider.status_code == 409 and outsider.json()["error"]["code"] == "not_a_beneficiary"
    offers = (await client.get("/producers/8/eligibility", headers=keys.headers("producer", producer_id=8))).json()
    assert offers["offers"] == []  # no offer from a fideicomiso that is not for her organization
    someone_else = await client.post(url, json={"producer_id": 7}, headers=keys.headers("producer", producer_id=8))
    assert someone_else.status_code == 403
    listed = (await client.get("/producers/7/acceptances", headers=keys.headers("producer", producer_id=7))).json()
    assert [a["consent"] for a in listed] == ["Acta de asamblea del 12/11/2026, firmada"]


async def test_the_worked_example_of_the_docs_money_in_out_repaid_costs_and_losses_per_organization_and_gender(
        db, client, keys):
    """docs/payments.md, "Worked example": the numbers there are these."""
    h, fund, v1 = await trust_fund(client, keys, cap="100000.00", auto="5000.00", max_amount="5000.00",
                                   producer_limit="5000.00")
    await client.post(f"/funds/{fund['id']}/contributions", json={"amount": "50000.00"}, headers=h)
    rosa, pedro = 7, 8
    await member(client, keys, rosa)
    await member(client, keys, pedro, gender="male")
    await delivered_goods(db, producer=rosa, cycle=30, consignments=((3000, "1000.00"),))
    await delivered_goods(db, producer=pedro, cycle=31, consignments=((3100, "500.00"),))

    async def ask(producer):
        ids, _ = await receivable_ids(client, keys, producer)
        return await client.post("/advances", json={"producer_id": producer, "receivable_ids": ids},
                                 headers=keys.headers("producer", producer_id=producer))

    await accept_terms(client, keys, policy_id=v1["id"], producer_id=rosa)
    first = (await ask(rosa)).json()
    assert (first["principal"], first["fee"], first["status"]) == ("800.00", "16.00", "disbursed")
    view = (await client.get(f"/funds/{fund['id']}", headers=h)).json()
    assert (view["money_in"], view["committed"], view["available"]) == ("150000.00", "800.00", "149200.00")
    v2 = (await client.post(f"/advance-policies/{v1['id']}/versions", json={"fee_value": "1.5"}, headers=h)).json()
    refused = await ask(pedro)
    assert refused.status_code == 409 and refused.json()["error"]["message"] == (
        "Antes de pedir un adelanto acepte las condiciones de «Pronto pago» (versión 2): costo administrativo "
        "1,5 % del adelanto.")
    await accept_terms(client, keys, policy_id=v2["id"], producer_id=pedro)
    second = (await ask(pedro)).json()
    assert (second["principal"], second["fee"]) == ("400.00", "6.00")
    paid = await client.post("/payments", json={"order_id": 3000, "amount": "1000.00", "method": "transfer"},
                             headers=keys.headers("coordinator", account_id=COORD))
    assert paid.status_code == 201, paid.text
    assert await balance_of(db, f"producer:{rosa}") == 18400  # she keeps Bs 184,00
    bad = [r["id"] for r in (await client.get(f"/producers/{pedro}/receivables", headers=keys.headers(**ADMIN))).json()]
    assert (await client.post(f"/receivables/{bad[0]}/uncollectible", json={"reason": "no pagaron"},
                              headers=keys.headers(**ADMIN))).status_code == 200

    report = (await client.get(f"/funds/{fund['id']}/report", headers=h)).json()
    assert report["money_in"] == "150000.00"
    t = report["totals"]
    assert (t["advances_out"], t["repayments"], t["costs_collected"], t["losses"]) == (
        "1200.00", "816.00", "16.00", "406.00")
    [org] = report["by_organization"]
    assert (org["organization_id"], org["beneficiary"], org["advances_out"], org["losses"]) == (
        ORG, True, "1200.00", "406.00")
    genders = {g["gender"]: g for g in report["by_gender"]}
    assert [genders["female"][k] for k in ("advances_out", "repayments", "losses")] == ["800.00", "816.00", "0.00"]
    assert [genders["male"][k] for k in ("advances_out", "repayments", "losses")] == ["400.00", "0.00", "406.00"]
    view = (await client.get(f"/funds/{fund['id']}", headers=h)).json()
    assert (view["committed"], view["available"]) == ("400.00", "149600.00")
    assert (await client.get(f"/funds/{fund['id']}/report",
                             headers=keys.headers("producer", producer_id=rosa))).status_code == 403
    await ledger_is_consistent(db)
