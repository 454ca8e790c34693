"""Acceptance, in a real headless Chromium against the whole platform: a municipality sets a
reference price with a fair band and a sale under its minimum raises an alert on its page (and in
its Avisos); an admin verifies a self-registered organization, after which its account acts for its
members. Each page fits a 360 px phone, has no serious accessibility violation, and is shot at 360
and at 1280 px (test-artifacts/web/)."""

import uuid
from decimal import Decimal

import pytest

from tests.web.conftest import accessible, shot
from tests.web.test_browser import fits_the_phone, log_in


def both_widths(page, name: str) -> None:
    """Checked and shot on the phone, then shot on a 1280 px screen."""
    fits_the_phone(page)
    accessible(page, name)
    shot(page, f"{name}-360")
    page.set_viewport_size({"width": 1280, "height": 800})
    shot(page, f"{name}-1280")
    page.set_viewport_size({"width": 360, "height": 740})


def an_orderable_product(platform) -> dict:
    """A product one unit of can be ordered (grown anywhere: a sale is judged where it happens)."""
    products = platform.request("GET", "/api/catalog/products?limit=100")["items"]
    return next(p for p in products if Decimal(p["available"]) >= 2 and not p.get("case_size")
                and Decimal(p["min_order_quantity"]) <= 1)


def test_a_sale_under_the_band_minimum_raises_an_alert_on_the_municipality_page(phone, platform, saturday_cycle):
    product = an_orderable_product(platform)
    paid = Decimal(product["price"])
    log_in(phone, platform.url, "municipio.lapaz")
    phone.goto(platform.url + "/municipio/precios")
    form = phone.locator("#new-price")
    form.locator("input[name=producto]").fill(product["name"])
    form.locator("select[name=unidad]").select_option(product["unit"])
    form.locator("input[name=precio]").fill(f"{paid + 2:.2f}".replace(".", ","))
    form.locator("input[name=minimo]").fill(f"{paid + 1:.2f}".replace(".", ","))
    form.locator("input[name=maximo]").fill(f"{paid + 4:.2f}".replace(".", ","))
    form.locator("button[type=submit]").click()
    phone.wait_for_load_state()
    assert f"Precio de referencia de {product['name']} guardado." in phone.inner_text("main")
    current = phone.inner_text("#current-prices")
    assert product["name"] in current and f"{paid + 1:.2f}".replace(".", ",") in current
    both_widths(phone, "municipio-01-precios")

    # a consumer buys it at the producer's price, under La Paz's minimum, at a La Paz point
    consumer = platform.login("consumidor2")
    points = platform.request("GET", "/api/delivery/points?municipality=020101&limit=100")["items"]
    order = None
    for point in [p["id"] for p in points if p["id"] in saturday_cycle["delivery_point_ids"]]:
        try:
            order = platform.request("POST", "/api/orders/orders", token=consumer, key=uuid.uuid4().hex, body={
                "cycle_id": saturday_cycle["id"], "delivery_point_id": point,
                "lines": [{"product_id": product["id"], "quantity": "1"}]})
            break
        except AssertionError:
            continue  # closed on the delivery day or full: the next one
    assert order is not None, "a La Paz point of the cycle takes the order"

    # order.placed reaches the gateway through the orders service's relay: the page shows it once it has
    alert = phone.locator("#alerts li[data-kind=below_min]", has_text=product["name"])
    for _ in range(60):
        phone.goto(platform.url + "/municipio")
        if alert.count():
            break
        phone.wait_for_timeout(1000)
    text = alert.first.inner_text()
    assert f"#{order['id']}" in text and f"{paid:.2f}".replace(".", ",") in text
    both_widths(phone, "municipio-02-alertas")
    phone.goto(platform.url + "/avisos")
    assert "bajo el mínimo justo" in phone.inner_text("main")


def test_an_admin_verifies_an_organization_and_its_account_then_acts_for_its_members(phone, platform):
    organizations = platform.request("GET", "/api/catalog/organizations?limit=100")["items"]
    organization = next(o for o in reversed(organizations)
                        if platform.request("GET", f"/api/catalog/products?organization={o['id']}&limit=5")["items"])
    members_products = platform.request("GET", f"/api/catalog/products?organization={organization['id']}&limit=5")
    login = f"nueva-{uuid.uuid4().hex[:8]}@ejemplo.bo"
    name = f"Asociación Nueva {uuid.uuid4().hex[:4]}"
    platform.request("POST", "/api/auth/register", body={"email": login, "password": "una clave larga", "name": name,
                                                        "role": "organization"})
    token = platform.request("POST", "/api/auth/login", body={"login": login, "password": "una clave larga"})
    with pytest.raises(AssertionError, match="-> 403"):  # unverified: no organization powers
        platform.request("GET", f"/api/catalog/organizations/{organization['id']}/memberships",
                         token=token["access_token"])

    log_in(phone, platform.url, "admin")
    assert phone.url.endswith("/admin")
    both_widths(phone, "admin-01-cuentas")
    phone.click("a[href='/admin?por_verificar=1']")
    phone.wait_for_load_state()
    phone.click(f"#accounts a:text-is('{name}')")
    phone.wait_for_load_state()
    assert "Verificar organización" in phone.inner_text("#verify")
    phone.locator("#verify select[name=organization_id]").select_option(str(organization["id"]))
    phone.locator("#verify button[type=submit]").click()
    phone.wait_for_load_state()
    assert "Organización verificada" in phone.inner_text("main")
    assert "activa" in phone.inner_text("#account") and organization["name"] in phone.inner_text("#account")
    both_widths(phone, "admin-02-cuenta-verificada")
    for path, name_ in (("/admin/registro", "admin-03-registro"), ("/admin/municipios", "admin-04-municipios")):
        phone.goto(platform.url + path)
        assert phone.locator("table tr").count() > 2
        both_widths(phone, name_)
    phone.click("form[action='/salir'] button")
    phone.wait_for_load_state()

    # the organization's account now speaks for it: its members' products and memberships
    phone.goto(platform.url + "/ingresar")
    phone.fill("input[name=login]", login)
    phone.fill("input[name=password]", "una clave larga")
    phone.click("button[type=submit]")
    phone.wait_for_load_state()
    phone.goto(platform.url + "/productor")
    assert phone.title().startswith("Productos de la organización")  # not "Organización por verificar"
    assert members_products["items"][0]["name"] in phone.inner_text("main")
    token = platform.request("POST", "/api/auth/login", body={"login": login, "password": "una clave larga"})
    memberships = platform.request("GET", f"/api/catalog/organizations/{organization['id']}/memberships",
                                   token=token["access_token"])
    assert isinstance(memberships, list)
