"""A coordinator runs a cycle from her phone, in a real headless Chromium against the whole platform:
she opens it in one form (two points with capacity 3 and 5, two fees, one agrobolsa), consumers
order (one waits for a slot), she watches the points fill, staffs a point, records a cash payment,
closes early, downloads the PDF and CSV lists and plans the routes, whose map shows every point
with orders. Screenshots at 360 px and 1280 px go to test-artifacts/web/; axe-core on every page;
each page's first load stays under 150 KB. (Who else may open a cycle: test_coordinator_pages.py.)"""

import re
import uuid
import zlib
from datetime import date, timedelta
from decimal import Decimal
from urllib.parse import urlparse

import pytest

from tests.web.conftest import ARTIFACTS, PHONE, accessible, shot
from tests.web.platform import DEMO_DOMAIN
from tests.web.test_browser import fits_the_phone, log_in
from tests.web.test_pages import wait_for

LIMIT = 150 * 1024
CYCLE_NAME = f"Ciclo de la Feria {uuid.uuid4().hex[:6]}"


def both_widths(page, name: str) -> None:
    """Screenshots at 360 px and at 1280 px, and no sideways scroll on the phone."""
    fits_the_phone(page)
    shot(page, f"{name}-360")
    page.set_viewport_size({"width": 1280, "height": 900})
    shot(page, f"{name}-1280")
    page.set_viewport_size(PHONE["viewport"])


def first_load(chromium, cookies: list[dict], url: str) -> int:
    """Bytes Chromium transfers for `url` on an empty cache (logged in with `cookies`); all from us."""
    context = chromium.new_context(**PHONE)
    context.add_cookies(cookies)
    page = context.new_page()
    requests = []
    page.on("requestfinished", lambda request: requests.append(request))
    page.goto(url, wait_until="load")
    total = 0
    for request in requests:
        assert urlparse(request.url).netloc == urlparse(url).netloc, f"{request.url} is not ours"
        sizes = request.sizes()
        total += sizes["responseBodySize"] + sizes["responseHeadersSize"]
    context.close()
    return total


def pdf_text(data: bytes) -> str:
    """The text drawn in a PDF made by fpdf2 (its page streams are deflated): enough to find names."""
    parts = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            parts.append(zlib.decompress(stream).decode("latin-1"))
        except zlib.error:
            parts.append(stream.decode("latin-1", "replace"))
    return "\n".join(parts)


@pytest.fixture(scope="module")
def stock(platform) -> list[dict]:
    """Products sold by the kilo with room to spare, from different producers."""
    found, producers = [], set()
    for p in platform.request("GET", "/api/catalog/products?limit=200")["items"]:
        if p["unit"] == "kg" and not p.get("case_size") and Decimal(p["available"]) >= 20 \
                and p["producer_id"] not in producers:
            found.append(p)
            producers.add(p["producer_id"])
    assert len(found) >= 4
    return found[:4]


def test_coordinator_opens_watches_closes_and_routes_a_cycle(phone, chromium, platform, stock):
    base = platform.url
    log_in(phone, base, "coordinacion")
    accessible(phone, "mis ciclos")
    both_widths(phone, "coordinacion-00-mis-ciclos")
    phone.click("a[href='/coordinacion/ciclos/nuevo']")
    phone.wait_for_load_state()
    closes = date.fromisoformat(phone.input_value("input[name=cierra]")[:10])
    for days in range(1, 8):  # the first day after the close when two points open
        delivery = closes + timedelta(days=days)
        found = platform.request("GET", f"/api/delivery/points?open_on={delivery}&limit=2")["items"]
        if len(found) == 2:
            break
    a, b = found
    phone.fill("input[name=entrega]", delivery.isoformat())
    accessible(phone, "ciclo-nuevo")
    both_widths(phone, "coordinacion-01-ciclo-nuevo")
    weights = {"nuevo": first_load(chromium, phone.context.cookies(), base + "/coordinacion/ciclos/nuevo")}

    phone.fill("input[name=nombre]", CYCLE_NAME)
    phone.check(f".pointrow[data-point-id='{a['id']}'] input[type=checkbox]")
    phone.fill(f"input[name=cupo_{a['id']}]", "tres")  # a mistake: the form comes back with it said
    phone.check(f".pointrow[data-point-id='{b['id']}'] input[type=checkbox]")
    phone.fill(f"input[name=cupo_{b['id']}]", "5")
    phone.select_option("select[name=tarifa_1_tipo]", "packing")
    phone.select_option("select[name=tarifa_1_base]", "flat")
    phone.fill("input[name=tarifa_1_valor]", "1,50")
    phone.select_option("select[name=tarifa_2_tipo]", "transport")
    phone.select_option("select[name=tarifa_2_base]", "percent")
    phone.fill("input[name=tarifa_2_valor]", "5")
    phone.fill("input[name=bolsa_1_nombre]", "Agrobolsa familiar")
    phone.fill("input[name=bolsa_1_producto_1]", f"{stock[0]['id']} · {stock[0]['name']}")
    phone.fill("input[name=bolsa_1_cantidad_1]", "2")
    phone.fill("input[name=bolsa_1_producto_2]", str(stock[1]["id"]))
    phone.fill("input[name=bolsa_1_cantidad_2]", "1,5")
    phone.click("button.primary")
    phone.wait_for_load_state()
    assert f"El cupo de «{a['name']}» es un número entero de pedidos" in phone.inner_text("main")
    assert phone.input_value("input[name=nombre]") == CYCLE_NAME  # what she typed is kept
    assert phone.input_value("input[name=bolsa_1_cantidad_2]") == "1,5"
    assert phone.is_checked(f".pointrow[data-point-id='{b['id']}'] input[type=checkbox]")
    accessible(phone, "ciclo-nuevo con errores")
    assert phone.console_errors == ["Failed to load resource: the server responded with a status of 422 "
                                    "(Unprocessable Entity)"]  # the refused form answers 422, as it should
    phone.console_errors.clear()
    fits_the_phone(phone)
    phone.fill(f"input[name=cupo_{a['id']}]", "3")
    phone.click("button.primary")
    phone.wait_for_url(re.compile(r"/coordinacion/ciclos/\d+\?aviso="))
    assert "Ciclo abierto" in phone.inner_text("main")
    cycle_id = int(re.search(r"/ciclos/(\d+)", phone.url).group(1))
    token = platform.login("coordinacion")
    cycle = platform.request("GET", f"/api/orders/cycles/{cycle_id}", token=token)
    assert cycle["status"] == "open" and cycle["point_capacity"] == {str(a["id"]): 3, str(b["id"]): 5}
    assert [(f["kind"], f["basis"], f["value"]) for f in cycle["fee_rules"]] == [
        ("packing", "flat", "1.5"), ("transport", "percent", "5")]
    basket = platform.request("GET", f"/api/orders/cycles/{cycle_id}/baskets", token=token)[0]
    assert basket["name"] == "Agrobolsa familiar" and len(basket["lines"]) == 2

    # consumers order: three fill point A (one takes the agrobolsa), a fourth waits there, one at B
    orders = []
    for who, point, body in (("consumidor1", a, {"baskets": [{"basket_id": basket["id"]}]}),
                             ("consumidor2", a, {"lines": [{"product_id": stock[2]["id"], "quantity": "2"}]}),
                             ("consumidor3", a, {"lines": [{"product_id": stock[3]["id"], "quantity": "1"}]}),
                             ("consumidor4", a, {"lines": [{"product_id": stock[2]["id"], "quantity": "1"}],
                                                 "wait_if_full": True}),
                             ("consumidor5", b, {"lines": [{"product_id": stock[3]["id"], "quantity": "3"}]})):
        orders.append(platform.request("POST", "/api/orders/orders", token=platform.login(who),
                                       key=uuid.uuid4().hex,
                                       body={"cycle_id": cycle_id, "delivery_point_id": point["id"], **body}))
    assert [o["status"] for o in orders] == ["placed", "placed", "placed", "waitlisted", "placed"]

    phone.goto(f"{base}/coordinacion/ciclos/{cycle_id}")
    assert phone.inner_text("#resumen").split() [:2] == ["4", "pedidos"]
    row_a = phone.inner_text(f"#puntos tr[data-point-id='{a['id']}']").split("\t")
    row_b = phone.inner_text(f"#puntos tr[data-point-id='{b['id']}']").split("\t")
    assert [x.strip() for x in row_a[1:5]] == ["3", "3", "0", "1"]  # capacity, taken, free, waiting
    assert [x.strip() for x in row_b[1:5]] == ["5", "1", "4", "0"]
    assert "Agrobolsa familiar" in phone.inner_text("section.basket")
    accessible(phone, "ciclo")
    both_widths(phone, "coordinacion-02-ciclo-llenandose")
    weights["ciclo"] = first_load(chromium, phone.context.cookies(), f"{base}/coordinacion/ciclos/{cycle_id}")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "coordinator-weights.txt").write_text("".join(f"{k}: {v} bytes\n" for k, v in weights.items()))
    assert all(0 < size < LIMIT for size in weights.values()), weights

    phone.select_option("#personal select[name=punto]", str(b["id"]))
    phone.fill("#personal input[name=cuenta]", f"consumidor2@{DEMO_DOMAIN}")
    phone.click("#personal button")
    phone.wait_for_load_state()
    assert "atiende ahora el punto" in phone.inner_text("main")
    assert "Carla Rojas Vargas" in phone.inner_text(f"#puntos tr[data-point-id='{b['id']}']")

    paid = orders[1]
    wait_for(lambda: platform.request("GET", f"/api/payments/orders/{paid['id']}/balance", token=token),
             "payments learning of the order")
    phone.click(f"#pedidos li[data-order-id='{paid['id']}'] a")
    phone.wait_for_load_state()
    assert phone.input_value("#pago input[name=monto]") == paid["total"].replace(".", ",")  # what is due
    phone.select_option("#pago select[name=metodo]", "cash")
    phone.click("#pago button[value=pago]")
    phone.wait_for_load_state()
    assert f"registrado en el pedido #{paid['id']}" in phone.inner_text("main")
    assert "Por cobrar Bs 0,00" in " ".join(phone.inner_text("#saldo").split())
    balance = platform.request("GET", f"/api/payments/orders/{paid['id']}/balance", token=token)
    assert Decimal(balance["due"]) == 0 and Decimal(balance["paid"]) == Decimal(paid["total"])
    accessible(phone, "pedido")
    both_widths(phone, "coordinacion-03-pedido-pagado")
    phone.fill("#pago input[name=monto]", "1,00")
    phone.click("#pago button[value=devolucion]")  # she paid exactly: nothing to give back
    phone.wait_for_load_state()
    assert f"Pedido #{paid['id']}: solo se puede devolver lo pagado de más: Bs 0,00." in phone.inner_text("main")
    phone.click(f"a[href='/coordinacion/ciclos/{cycle_id}']")
    phone.wait_for_load_state()

    phone.click("details.confirm summary")
    phone.click("details.confirm button")
    phone.wait_for_url(re.compile(rf"/coordinacion/ciclos/{cycle_id}/listas"))
    assert "Ciclo cerrado" in phone.inner_text("main")
    assert phone.locator("#organizaciones tbody tr").count() >= 1
    accessible(phone, "listas")
    both_widths(phone, "coordinacion-04-listas")

    placed = [o for o in orders if o["status"] == "placed"]
    csv = phone.request.get(f"{base}/coordinacion/ciclos/{cycle_id}/listas.csv")
    assert csv.ok and csv.headers["content-type"].startswith("text/csv")
    text = csv.text()
    assert "Lista de recojo por productor" in text and "Totales por organización" in text
    for order in placed:
        assert order["pickup_code"] in text
    for product in stock:
        assert product["name"] in text
    pdf = phone.request.get(f"{base}/coordinacion/ciclos/{cycle_id}/listas.pdf")
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf" and pdf.body().startswith(b"%PDF")
    printed = pdf_text(pdf.body())
    assert CYCLE_NAME in printed and stock[2]["producer_name"] in printed
    for order in placed:
        assert order["pickup_code"] in printed

    wait_for(lambda: platform.request("GET", f"/api/delivery/consignments?cycle_id={cycle_id}",
                                      token=token)["items"], "the consignments of the closed cycle")
    phone.goto(f"{base}/coordinacion/ciclos/{cycle_id}")
    phone.fill("#planificar input[name=vehiculos]", "2")
    phone.click("#planificar button")
    phone.wait_for_load_state()
    assert "Rutas planificadas" in phone.inner_text("main")
    with_orders = {o["delivery_point_id"] for o in placed}
    stops = {int(x) for x in phone.locator("section.route li").evaluate_all(
        "items => items.map(i => i.dataset.pointId)")}
    assert stops == with_orders == {a["id"], b["id"]}
    assert phone.locator("#mapa-rutas svg g.stop").count() == len(with_orders)
    assert phone.locator("#mapa-rutas svg polyline").count() >= 1
    accessible(phone, "ciclo con rutas")
    both_widths(phone, "coordinacion-05-rutas")

    phone.click("form[action$='/no-recogidos'] button")
    phone.wait_for_load_state()
    assert "Ningún pedido para marcar" in phone.inner_text("main")  # the pickup windows are still ahead

