"""The payout scenario through the gateway, on PostgreSQL: the payments service served over HTTP
behind the real gateway; three producers (Juana in an organization that takes 5 % and collects for
its members, Elena with an advance); after the final settlement the batch CSV has the right amounts,
marking it paid updates every statement, and a payout larger than what is payable is refused."""

from decimal import Decimal

from services.payments.app import create_app
from tests.conftest import require_postgres, service_settings, transactional_database
from tests.gateway.conftest import running_gateway, serving
from tests.payments import payout_world as w


async def test_a_cycle_is_paid_out_through_the_gateway(migrated, keys):
    require_postgres()
    url = migrated.url("payments", "postgres")
    async with transactional_database(url) as db:
        await w.build(db, share_advance_and_payments=False)
        payments = create_app(service_settings("payments", url), database=db, verifier=keys.verifier, clients={})
        async with serving(payments) as payments_url, \
                running_gateway(migrated, "postgres", keys, payments_url=payments_url) as gw, gw.client() as client:
            api = "/api/payments"
            coordinator = keys.headers("coordinator", account_id=w.COORDINATOR)
            organization = keys.headers("organization", account_id=703, organization_id=w.ORGANIZATION)
            elena = keys.headers("producer", account_id=609, producer_id=w.ELENA)

            share = await client.put(f"{api}/organizations/{w.ORGANIZATION}/share", headers=organization,
                                     json={"rate": "5", "collects_for_members": True})
            assert share.status_code == 200, share.text
            advance = await client.post(f"{api}/advances", headers=elena,
                                        json={"producer_id": w.ELENA, "amount": "156.80"})
            assert advance.status_code == 201, advance.text
            assert (advance.json()["status"], advance.json()["fee"]) == ("disbursed", "3.14")
            for producer, (_, _, kg, price) in w.SALES.items():
                paid = await client.post(f"{api}/payments", headers=coordinator, json={
                    "order_id": 3000 + producer, "amount": str(Decimal(kg) * Decimal(price)), "method": "transfer"})
                assert paid.status_code == 201, paid.text

            settled = await client.post(f"{api}/cycles/30/settlement/final", headers=coordinator)
            assert settled.status_code == 200, settled.text
            payable = {p["producer_id"]: p["amount"] for p in settled.json()["payables"]}
            assert payable == {w.ROSA: "98.00", w.JUANA: "46.50", w.ELENA: "36.06"}

            too_much = await client.post(f"{api}/payout-batches", headers=coordinator, json={"cycle_id": 30, "lines": [
                {"producer_id": w.ELENA, "amount": "36.07", "method": "mobile_wallet", "wallet_number": "71234567"}]})
            assert too_much.status_code == 409
            assert too_much.json()["error"]["message"] == (
                "el pago de Bs 36,07 supera lo pendiente de pago a la productora 9 (Bs 36,06)")

            made = await client.post(f"{api}/payout-batches", headers=coordinator, json={"cycle_id": 30, "lines": [
                {"producer_id": w.ROSA, "method": "bank_transfer", "bank": "Banco Unión", "account_number": "1-234567"},
                {"organization_id": w.ORGANIZATION, "method": "bank_transfer", "bank": "BancoSol",
                 "account_number": "99887766"},
                {"producer_id": w.ELENA, "method": "mobile_wallet", "wallet_number": "71234567"}]})
            assert made.status_code == 201, made.text
            batch = made.json()
            export = await client.get(f"{api}/payout-batches/{batch['id']}/export", headers=coordinator)
            assert export.headers["content-type"].startswith("text/csv")
            rows = [line.split(",") for line in export.text.strip().split("\r\n")[1:]]
            assert sorted((r[1], r[2], r[3], r[7]) for r in rows) == [
                ("organization", "3", "bank_transfer", "46.50"), ("producer", "7", "bank_transfer", "98.00"),
                ("producer", "9", "mobile_wallet", "36.06")]
            assert next(r for r in rows if r[1] == "organization")[9] == "productora 8: 46.50"

            for line in batch["lines"]:
                done = await client.post(f"{api}/payouts/{line['id']}/paid", headers=coordinator,
                                         json={"reference": f"BCO-{line['id']}"})
                assert done.status_code == 200, done.text
            again = await client.post(f"{api}/payout-batches", headers=coordinator, json={"cycle_id": 30, "lines": [
                {"producer_id": w.ROSA, "amount": "0.01", "method": "cash"}]})
            assert again.status_code == 409  # Rosa was paid in full: nothing is left to pay her twice

            statements = {}
            for producer in (w.ROSA, w.JUANA, w.ELENA):
                r = await client.get(f"{api}/producers/{producer}/statement?cycle_id=30",
                                     headers=keys.headers("producer", account_id=600 + producer, producer_id=producer))
                assert r.status_code == 200, r.text
                statements[producer] = r.json()
            assert {p: s["settlement"]["paid_out"] for p, s in statements.items()} == {
                w.ROSA: "98.00", w.JUANA: "46.50", w.ELENA: "36.06"}
            assert statements[w.ELENA]["settlement"]["advance_deduction"] == "159.94"
            assert statements[w.JUANA]["payouts"][0]["paid_to"] == "organization"
            assert all(s["payouts"][0]["status"] == "paid" for s in statements.values())
            org = (await client.get(f"{api}/organizations/{w.ORGANIZATION}/statement?cycle_id=30",
                                    headers=organization)).json()
            assert org["members"][0]["organization_share"] == "2.50"
            assert org["payouts_received"][0]["split"] == [{"producer_id": w.JUANA, "amount": "46.50"}]
            other = await client.get(f"{api}/organizations/{w.ORGANIZATION}/statement", headers=elena)
            assert other.status_code == 403
