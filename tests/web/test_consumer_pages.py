"""The consumer's and the point's new forms over plain HTTP against the running platform: who may
act on an order, an addition to the cart sent twice counts once, and a QR photo never lets an
account that does not work at the point hand an order over."""

import io
import uuid
from decimal import Decimal
from urllib.parse import unquote

import pytest
import qrcode

from gateway.web.pickup_qr import payload
from tests.web.test_pages import BrowserLike, log_in


@pytest.fixture
def browser_like(platform):
    with BrowserLike(base_url=platform.url, follow_redirects=False, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def an_order(platform) -> dict:
    """consumidor3's order in the current open cycle."""
    coordinator, consumer = platform.login("coordinacion"), platform.login("consumidor3")
    cycle = platform.request("GET", "/api/orders/cycles?status=open", token=coordinator)["items"][0]
    point = next(p for p in platform.request(
        "GET", f"/api/delivery/points?open_on={cycle['delivery_date']}&limit=50")["items"]
        if p["id"] in cycle["delivery_point_ids"])
    product = next(p for p in platform.request("GET", "/api/catalog/products?limit=50")["items"]
                   if not p.get("case_size") and Decimal(p["available"]) >= 2
                   and Decimal(p["min_order_quantity"]) <= 1)
    return platform.request("POST", "/api/orders/orders", token=consumer, key=uuid.uuid4().hex, body={
        "cycle_id": cycle["id"], "delivery_point_id": point["id"],
        "lines": [{"product_id": product["id"], "quantity": "1"}]})


def said(response) -> str:
    assert response.status_code == 303, response.text[:300]
    return unquote(response.headers["location"])


def test_another_consumer_can_neither_see_nor_cancel_an_order(browser_like, platform, an_order):
    log_in(browser_like, "consumidor1")
    seen = browser_like.get(f"/pedidos/{an_order['id']}")
    assert seen.status_code in (403, 404) and an_order["pickup_code"] not in seen.text
    refused = browser_like.post(f"/pedidos/{an_order['id']}/cancelar")
    assert "error=" in said(refused)
    still = platform.request("GET", f"/api/orders/orders/{an_order['id']}", token=platform.login("consumidor3"))
    assert still["status"] == "placed"
    assert browser_like.get("/pedidos/0").status_code == 422  # a bad id is a clear 4xx, never a 500


def test_a_point_account_elsewhere_cannot_hand_an_order_over_with_its_qr(browser_like, platform, an_order):
    image = io.BytesIO()
    qrcode.make(payload(an_order["id"], an_order["pickup_code"])).save(image)
    log_in(browser_like, "consumidor1")  # works at no point in this cycle
    refused = browser_like.post("/punto/recojo/qr", data={"point_id": str(an_order["delivery_point_id"])},
                                files={"foto": ("qr.png", image.getvalue(), "image/png")})
    assert "error=" in said(refused)
    still = platform.request("GET", f"/api/orders/orders/{an_order['id']}", token=platform.login("consumidor3"))
    assert still["status"] == "placed"
    junk = browser_like.post("/punto/recojo/qr", data={"point_id": "1"},
                             files={"foto": ("x.jpg", b"no es una imagen", "image/jpeg")})
    assert "no es una foto" in said(junk)


def test_an_addition_to_the_cart_sent_twice_counts_once(browser_like, platform):
    product = next(p for p in platform.request("GET", "/api/catalog/products?limit=20")["items"]
                   if Decimal(p["available"]) >= 4)
    form = {"product_id": str(product["id"]), "quantity": "2", "back": "/", "idempotency_key": "k" + uuid.uuid4().hex}
    for _ in range(2):
        assert "Carrito actualizado" in said(browser_like.post("/carrito", data=form))
    assert browser_like.cookies["mc_cart"].strip('"') == f"{product['id']}:2"
    again = browser_like.post("/carrito", data={**form, "idempotency_key": "k" + uuid.uuid4().hex})
    assert "Carrito actualizado" in said(again)
    assert browser_like.cookies["mc_cart"].strip('"') == f"{product['id']}:4"  # a new addition adds


@pytest.mark.parametrize("form, error", [
    ({"quantity": "1"}, "Elija un producto o una agrobolsa."),
    ({"product_id": "1", "basket_id": "1"}, "Elija un producto o una agrobolsa."),
    ({"basket_id": "1", "quantity": "1,5"}, "Escriba la cantidad"),
    ({"product_id": "1", "quantity": "mucho"}, "Escriba la cantidad"),
])
def test_a_cart_form_that_makes_no_sense_says_what_is_wrong(browser_like, form, error):
    response = browser_like.post("/carrito", data={"back": "/", **form})
    assert error in said(response)
    assert "mc_cart" not in browser_like.cookies


def test_an_agrobolsa_no_longer_offered_is_shown_to_be_removed_not_ordered(browser_like):
    log_in(browser_like, "consumidor1")
    said(browser_like.post("/carrito", data={"basket_id": "999999", "quantity": "1", "back": "/"}))
    page = browser_like.get("/carrito")
    assert page.status_code == 200 and "Una agrobolsa que ya no se ofrece en este ciclo" in page.text
    assert 'id="confirm-button"' not in page.text  # nothing priced, nothing to confirm
    removed = browser_like.post("/carrito", data={"basket_id": "999999", "quantity": "0", "back": "/carrito"})
    assert "Carrito actualizado" in said(removed)
    assert "Su carrito está vacío" in browser_like.get("/carrito").text


def test_end_of_day_no_shows_are_marked_by_the_cycle_coordinator_not_by_anyone(browser_like, an_order):
    form = {"cycle_id": str(an_order["cycle_id"])}
    log_in(browser_like, "consumidor1")  # works at no point of this cycle
    assert "Su cuenta no atiende ese punto" in said(browser_like.post("/punto/no-recogidos", data=form))
    browser_like.cookies.clear()
    log_in(browser_like, "coordinacion")
    # the delivery day has not come: no pickup window is over, nothing is marked
    assert "Ningún pedido quedó sin recoger" in said(browser_like.post("/punto/no-recogidos", data=form))
    bad = browser_like.post("/punto/no-recogidos", data={"cycle_id": "0"})
    assert bad.status_code == 422 and "cycle_id" in bad.text  # a clear 4xx, never a 500
