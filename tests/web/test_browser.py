"""The pages in a real headless Chromium on a 360 px phone, against the whole platform running:
a consumer orders and gets her pickup code, a producer changes a price and sees it in the history,
a municipality opens its dashboard and the charts carry data. Screenshots go to test-artifacts/web/.
"""

import math
import re
import uuid
from decimal import Decimal
from urllib.parse import quote, unquote

from tests.web.conftest import CONSUMER_AT, shot
from tests.web.platform import DEMO_DOMAIN, DEMO_PASSWORD


def km(lat1, lon1, lat2, lon2) -> float:
    """Great-circle distance (spherical law of cosines), independent of the delivery service's code."""
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lon2 - lon1)
    cos = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)
    return 6371.0088 * math.acos(max(-1.0, min(1.0, cos)))


def log_in(page, base: str, who: str) -> None:
    page.goto(base + "/ingresar")
    page.fill("input[name=login]", f"{who}@{DEMO_DOMAIN}")
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def fits_the_phone(page) -> None:
    """Nothing forces a sideways scroll on a 360 px screen (wide tables scroll inside their box), and
    the page broke no rule of its content security policy nor threw any error."""
    assert page.console_errors == []
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the page is {width}px wide on a 360px phone"


def test_consumer_fills_a_cart_picks_the_nearest_point_and_gets_her_pickup_code(phone, platform, saturday_cycle):
    base = platform.url
    log_in(phone, base, "consumidor2")
    assert phone.url.rstrip("/") == base  # consumers land on the catalogue
    cards = phone.locator("li.product")
    assert cards.count() >= 2
    first, second = cards.nth(0), cards.nth(1)
    names = [first.locator(".pname").inner_text(), second.locator(".pname").inner_text()]
    assert "Bs " in first.locator(".price").inner_text()  # amounts read "Bs 12,50"
    assert first.locator(".meta").inner_text().strip()  # producer (and place) shown
    shot(phone, "01-catalogo")
    fits_the_phone(phone)
    first.locator("button").click()
    phone.wait_for_load_state()
    phone.locator("li.product").nth(1).locator("button").click()
    phone.wait_for_load_state()
    assert "Carrito actualizado" in phone.inner_text("main")

    phone.click("a[href='/carrito']")
    phone.wait_for_load_state()
    for name in names:
        assert name in phone.inner_text("ul.lines")
    assert saturday_cycle["name"] in phone.inner_text("main")
    phone.click("#locate")  # the browser gives the consumer's location; points come back nearest first
    phone.wait_for_url(re.compile(r"lat="))
    radios = phone.locator("input[name=delivery_point_id]")
    assert radios.count() >= 2
    listed = phone.locator("label.point .dist").all_inner_texts()
    distances = [float(t.replace(" km", "").replace(",", ".")) for t in listed]
    assert distances == sorted(distances)

    points = {p["id"]: p for p in platform.request("GET", "/api/delivery/points?limit=100")["items"]}
    offered = [int(radios.nth(i).get_attribute("value")) for i in range(radios.count())]
    nearest = min(offered, key=lambda pid: km(CONSUMER_AT["latitude"], CONSUMER_AT["longitude"],
                                               points[pid]["lat"], points[pid]["lon"]))
    assert offered[0] == nearest and radios.nth(0).is_checked()
    assert phone.locator("svg.map .pt").count() >= 2 and phone.locator("svg.map .here").count() == 1
    fees = phone.inner_text("table.sums")
    assert "Embalaje" in fees and "Transporte" in fees and "Total a pagar" in fees
    total = phone.inner_text("#total")
    assert re.fullmatch(r"Bs \d{1,3}(\.\d{3})*,\d{2}", total), total
    shot(phone, "02-carrito")
    fits_the_phone(phone)

    radios.nth(0).check()
    phone.click("#confirm-button")
    phone.wait_for_url(re.compile(r"/pedidos/\d+$"))
    code = phone.inner_text("#pickup-code").strip()
    assert re.fullmatch(r"[A-Z0-9]{6,12}", code), code
    assert phone.locator("svg.qr path").count() == 1
    share = phone.get_attribute("a.whatsapp", "href")
    assert share.startswith("https://wa.me/?text=") and code in unquote(share)
    assert points[nearest]["name"] in phone.inner_text("main")
    assert total in phone.inner_text("table.sums")  # the order costs what the cart said
    shot(phone, "03-confirmacion")
    fits_the_phone(phone)


def test_producer_changes_a_price_and_sees_it_in_the_history(phone, platform):
    base = platform.url
    log_in(phone, base, "productor1")
    assert phone.url.endswith("/productor")
    shot(phone, "04-productor")
    fits_the_phone(phone)
    item = phone.locator("ul.lines li[data-product-id]").first
    product_id = item.get_attribute("data-product-id")
    old = Decimal(item.locator("input[name=price]").input_value().replace(",", "."))
    new = old + Decimal("0.50")
    item.locator("input[name=price]").fill(f"{new:.2f}".replace(".", ","))
    item.locator("button").click()
    phone.wait_for_url(re.compile(rf"/productor/productos/{product_id}"))
    shown = f"Bs {new:.2f}".replace(".", ",")
    assert shown in phone.inner_text(".price")
    history = phone.inner_text("#price-history")
    assert shown in history and f"Bs {old:.2f}".replace(".", ",") in history
    assert phone.locator("svg.chart.lines polyline").count() == 1
    shot(phone, "05-historial-de-precios")
    fits_the_phone(phone)


def test_municipality_dashboard_charts_have_data(phone, platform, saturday_cycle):
    # a sale at a La Paz point of products La Paz has reference prices for, each from three producers:
    # a municipality sees no figure of fewer than three producers
    consumer = platform.login("consumidor3")
    references = platform.request("GET", "/api/catalog/reference-prices?municipality=020101&limit=100")["items"]
    lines = []
    for ref in references:
        query = f"q={quote(ref['product_name'])}" if ref.get("product_name") else f"category={ref['category']}"
        found = platform.request("GET", f"/api/catalog/products?{query}&limit=100")["items"]
        kinds: dict[str, dict[int, dict]] = {}
        for p in found:
            if p["unit"] == ref["unit"] and not p.get("case_size") and Decimal(p["available"]) >= 2 \
                    and p["id"] not in {ln["product_id"] for ln in lines}:
                kinds.setdefault(p["name"], {}).setdefault(p["producer_id"], p)
        three = next((list(by_producer.values())[:3] for by_producer in kinds.values() if len(by_producer) >= 3), [])
        lines += [{"product_id": p["id"], "quantity": "1"} for p in three]
    assert len(lines) >= 6, "the demo world gives La Paz reference prices for products three producers sell"
    la_paz = [p["id"] for p in platform.request("GET", "/api/delivery/points?municipality=020101&limit=100")["items"]
              if p["id"] in saturday_cycle["delivery_point_ids"]]
    for point in la_paz:
        try:
            platform.request("POST", "/api/orders/orders", token=consumer, key=uuid.uuid4().hex,
                             body={"cycle_id": saturday_cycle["id"], "delivery_point_id": point, "lines": lines})
            break
        except AssertionError:
            continue  # that point is closed on the delivery day or full: try the next

    log_in(phone, platform.url, "municipio.lapaz")
    assert phone.url.endswith("/municipio")
    bars = phone.locator("#supply-chart svg rect")
    assert bars.count() >= 1
    assert all(float(v) > 0 for v in bars.evaluate_all("rs => rs.map(r => r.dataset.value)"))
    assert phone.locator("#price-chart svg polyline").count() >= 2  # reference and price paid
    assert phone.locator("svg.map .pt").count() >= 1
    assert phone.locator("#kpis").inner_text().count("Bs ") >= 2
    shot(phone, "06-tablero-municipal")
    fits_the_phone(phone)
    with phone.expect_download() as download:
        phone.click("text=Descargar informe (CSV)")
    path = download.value.path()
    text = open(path, encoding="utf-8-sig").read()
    assert text.startswith("seccion,grupo,elemento,unidad,indicador,valor")


def test_coordinator_and_financier_pages_fit_a_phone(phone, platform):
    log_in(phone, platform.url, "coordinacion")
    assert phone.url.endswith("/coordinacion")
    shot(phone, "07-coordinacion")
    fits_the_phone(phone)
    phone.locator("a", has_text="Listas").first.click()
    phone.wait_for_url(re.compile(r"/coordinacion/ciclos/\d+/listas"))
    assert phone.locator("section.pick").count() >= 1 and phone.locator("section.pack").count() >= 1
    assert phone.locator("#print").is_visible()  # the local script shows the print button
    shot(phone, "08-listas-para-imprimir")
    fits_the_phone(phone)
    phone.click("form[action='/salir'] button")
    phone.wait_for_load_state()
    log_in(phone, platform.url, "financiera")
    assert phone.url.endswith("/financiador")
    assert "Bs " in phone.inner_text("#portfolio")
    shot(phone, "09-financiador")
    fits_the_phone(phone)
