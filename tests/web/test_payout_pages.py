"""The coordinator pays a cycle's producers from a 360 px phone, against the whole platform: the goods
travel orders -> delivery -> payments, the consumer's transfer is recorded, and on the cycle's
payout page the coordinator makes the settlement final, is refused a payout above what is payable,
makes the batch, downloads the bank's CSV and marks the payout paid; the producer's page then shows
it. axe-core finds no serious or critical violation on the payout page."""

import uuid
from decimal import Decimal

import httpx

from tests.web.conftest import accessible, shot
from tests.web.test_browser import fits_the_phone, log_in

PRODUCER = 2


def wait_for(probe, what: str, seconds: float = 30):
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"{what} did not happen within {seconds} s")


def delivered_and_paid_cycle(platform) -> tuple[dict, Decimal]:
    """A new cycle where consumer 4 bought producer 2's goods, received and paid by transfer."""
    coordinator, consumer = platform.login("coordinacion"), platform.login("consumidor4")
    current = platform.request("GET", "/api/orders/cycles?status=open", token=coordinator)["items"][0]
    cycle = platform.request("POST", "/api/orders/cycles", token=coordinator, key=uuid.uuid4().hex, body={
        "name": "Ciclo para pagar", "opens_at": current["opens_at"], "closes_at": current["closes_at"],
        "delivery_date": current["delivery_date"], "delivery_point_ids": current["delivery_point_ids"],
        "status": "open"})
    product = next(p for p in platform.request("GET", f"/api/catalog/products?producer={PRODUCER}&limit=50")["items"]
                   if not p.get("case_size") and Decimal(p["available"]) >= 2)
    point = platform.request("GET", f"/api/delivery/points?open_on={cycle['delivery_date']}&limit=1")["items"][0]
    order = platform.request("POST", "/api/orders/orders", token=consumer, key=uuid.uuid4().hex, body={
        "cycle_id": cycle["id"], "delivery_point_id": point["id"],
        "lines": [{"product_id": product["id"], "quantity": "2"}]})
    platform.request("POST", f"/api/orders/cycles/{cycle['id']}/close", token=coordinator)
    consignment = wait_for(lambda: platform.request(
        "GET", f"/api/delivery/consignments?cycle_id={cycle['id']}", token=coordinator)["items"], "consignments")[0]
    platform.request("POST", f"/api/delivery/consignments/{consignment['id']}/receive", token=coordinator,
                     key=uuid.uuid4().hex, body={"lines": [{"product_id": ln["product_id"],
                                                            "received_quantity": ln["ordered_quantity"]}
                                                           for ln in consignment["lines"]]})
    producer = platform.login(f"productor{PRODUCER}")
    wait_for(lambda: platform.request("GET", f"/api/payments/producers/{PRODUCER}/receivables",
                                      token=producer), "the receivable")
    due = Decimal(wait_for(lambda: _due(platform, coordinator, order["id"]), "the order in payments"))
    platform.request("POST", "/api/payments/payments", token=coordinator, key=uuid.uuid4().hex,
                     body={"order_id": order["id"], "amount": str(due), "method": "transfer"})
    return cycle, due


def _due(platform, token: str, order_id: int) -> str | None:
    try:
        return platform.request("GET", f"/api/payments/orders/{order_id}/balance", token=token)["due"]
    except Exception:  # not known to payments yet: its event is on its way
        return None


def test_coordinator_pays_a_cycle_from_her_phone_and_the_producer_sees_it(phone, platform):
    cycle, _ = delivered_and_paid_cycle(platform)
    page_url = f"{platform.url}/coordinacion/ciclos/{cycle['id']}/pagos-productoras"
    log_in(phone, platform.url, "coordinacion")
    phone.goto(page_url)
    phone.click("text=Hacer la liquidación final")
    phone.wait_for_load_state()
    assert "Liquidación final hecha" in phone.inner_text("main")
    payable = phone.inner_text("#payables")
    key = f"producer:{PRODUCER}"
    left = phone.get_attribute(f"input[name='monto_{key}']", "placeholder")
    assert left and f"Bs {left}" in payable

    # one centavo above what is payable: the service's refusal, in Spanish, and nothing committed
    too_much = (Decimal(left.replace(",", ".")) + Decimal("0.01"))
    phone.fill(f"input[name='monto_{key}']", f"{too_much}".replace(".", ","))
    phone.select_option(f"select[name='metodo_{key}']", "bank_transfer")
    phone.fill(f"input[name='banco_{key}']", "Banco Unión")
    phone.fill(f"input[name='cuenta_{key}']", "10000012345")
    phone.click("text=Crear lote de pagos")
    phone.wait_for_load_state()
    assert "supera lo pendiente de pago" in phone.inner_text("[role=alert]")

    phone.select_option(f"select[name='metodo_{key}']", "bank_transfer")
    phone.fill(f"input[name='banco_{key}']", "Banco Unión")
    phone.fill(f"input[name='cuenta_{key}']", "10000012345")
    phone.click("text=Crear lote de pagos")
    phone.wait_for_load_state()
    assert "listo" in phone.inner_text("main")
    shot(phone, "20-pagos-del-ciclo")
    fits_the_phone(phone)
    accessible(phone, "the payout page")
    weight = phone.evaluate("""[...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')]
                               .reduce((sum, e) => sum + (e.encodedBodySize || 0), 0)""")
    assert 0 < weight < 150_000, f"the payout page weighs {weight} bytes"

    csv_href = phone.get_attribute("#payouts a[href$='.csv']", "href")
    cookies = {c["name"]: c["value"] for c in phone.context.cookies()}
    csv = httpx.get(platform.url + csv_href, cookies=cookies, timeout=30)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    row = csv.text.strip().split("\r\n")[1].split(",")
    assert (row[1], row[2], row[3], row[7]) == ("producer", str(PRODUCER), "bank_transfer", left.replace(",", "."))

    phone.fill("#payouts input[name=referencia]", "UNION-778899")
    phone.click("#payouts >> text=Marcar pagado")
    phone.wait_for_load_state()
    assert "pagado" in phone.inner_text("#payouts") and "UNION-778899" in phone.inner_text("#payouts")

    phone.click("form[action='/salir'] button")
    phone.wait_for_load_state()
    log_in(phone, platform.url, f"productor{PRODUCER}")
    phone.goto(platform.url + "/productor")
    mine = phone.inner_text("#payouts")
    assert "pagado" in mine and f"Bs {left}" in mine and "UNION-778899" in mine
