"""The delivery point's pages in a real headless Chromium on a 360 px phone: an account assigned to
a point finds the page from the header, hands an order over by typing its code and receives a
producer's goods rejecting part of a line. Screenshots go to test-artifacts/web/."""

import pytest

from tests.web.conftest import accessible, shot
from tests.web.point_world import set_up_point_day
from tests.web.test_browser import fits_the_phone, log_in

STAFF = "consumidor1"


@pytest.fixture(scope="module")
def point_day(platform) -> dict:
    return set_up_point_day(platform, staff=STAFF, consumer="consumidor4", producer_id=3)


def test_point_staff_hands_over_and_receives_on_a_phone(phone, platform, point_day):
    order, product, consignment = point_day["order"], point_day["product"], point_day["consignment"]
    log_in(phone, platform.url, STAFF)
    phone.click("header a[href='/punto']")
    phone.wait_for_load_state()
    item = phone.locator(f"li[data-order-id='{order['id']}']")
    fits_the_phone(phone)
    shot(phone, "punto-01-hoy")
    accessible(phone, "punto-01-hoy")
    item.locator("input[name=pickup_code]").fill(order["pickup_code"])
    item.locator("button").click()
    phone.wait_for_load_state()
    assert f"Pedido #{order['id']} entregado." in phone.inner_text("main")

    phone.click(f"a[href='/punto/entregas/{consignment['id']}']")
    phone.wait_for_load_state()
    fits_the_phone(phone)
    shot(phone, "punto-02-recibir")
    accessible(phone, "punto-02-recibir")
    line = phone.locator(f"fieldset[data-product-id='{product['id']}']")
    line.locator(f"input[name=rechazado_{product['id']}]").fill("1")
    line.locator("select").select_option(label="No está fresco")
    phone.click("button.primary")
    phone.wait_for_load_state()
    assert "Entrega recibida." in phone.inner_text("main")
    assert "No está fresco" in phone.inner_text(f"tr[data-product-id='{product['id']}']")
    fits_the_phone(phone)
