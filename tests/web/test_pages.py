"""Pages over plain HTTP against the running platform (no browser needed): who may open what, the
login form, the coordinator closing a cycle and printing its lists, the financier's portfolio."""

import re
import time
import uuid
from datetime import date
from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from tests.web.platform import DEMO_DOMAIN, DEMO_PASSWORD


class BrowserLike(httpx.Client):
    """Posts forms as a browser does from our pages: with our Origin and the token the page's forms
    carry (taken from the login page when the client has none yet)."""

    def post(self, url, *, data=None, **kw):
        if "mc_csrf" not in self.cookies:
            page = self.get("/ingresar")
            assert 'name="csrf_token"' in page.text
        headers = {"Origin": str(self.base_url).rstrip("/"), **kw.pop("headers", {})}
        data = {**(data or {}), "csrf_token": self.cookies["mc_csrf"]}
        return super().post(url, data=data, headers=headers, **kw)


@pytest.fixture
def browser_like(platform):
    with BrowserLike(base_url=platform.url, follow_redirects=False, timeout=30) as client:
        yield client


def log_in(client: httpx.Client, who: str) -> httpx.Response:
    return client.post("/ingresar", data={"login": f"{who}@{DEMO_DOMAIN}", "password": DEMO_PASSWORD})


def test_login_keeps_the_tokens_in_httponly_cookies_and_sends_each_role_home(browser_like):
    homes = {"consumidor1": "/", "productor1": "/productor", "coordinacion": "/coordinacion",
             "municipio.lapaz": "/municipio", "financiera": "/financiador", "organizacion1": "/productor"}
    for who, home in homes.items():
        browser_like.cookies.clear()
        response = log_in(browser_like, who)
        assert response.status_code == 303 and response.headers["location"] == home
        cookies = response.headers.get_list("set-cookie")
        access = next(c for c in cookies if c.startswith("mc_access="))
        assert "HttpOnly" in access and "SameSite=lax" in access.replace("Lax", "lax")
        assert browser_like.get(home).status_code == 200


def test_wrong_password_shows_a_spanish_error_and_sets_no_cookie(browser_like):
    response = browser_like.post("/ingresar", data={"login": f"consumidor1@{DEMO_DOMAIN}", "password": "no es"})
    assert response.status_code == 400
    assert "incorrectos" in response.text
    assert not [c for c in response.headers.get_list("set-cookie") if c.startswith("mc_access=")]


@pytest.mark.parametrize("path", ["/productor", "/coordinacion", "/municipio", "/financiador", "/pedidos"])
def test_private_pages_send_visitors_to_the_login_form(browser_like, path):
    response = browser_like.get(path)
    assert response.status_code == 303
    target = urlparse(response.headers["location"])
    assert target.path == "/ingresar" and parse_qs(target.query)["next"] == [path]


def test_a_consumer_cannot_open_the_municipal_dashboard(browser_like):
    log_in(browser_like, "consumidor1")
    response = browser_like.get("/municipio")
    assert response.status_code == 303 and response.headers["location"].startswith("/ingresar")


def test_login_never_redirects_to_another_site(browser_like):
    response = browser_like.post("/ingresar", data={"login": f"consumidor1@{DEMO_DOMAIN}", "password": DEMO_PASSWORD,
                                                    "next": "//evil.example/"})
    assert response.headers["location"] == "/"


def test_coordinator_closes_a_cycle_and_prints_its_lists(browser_like, platform):
    coordinator = platform.login("coordinacion")
    open_cycle = next(c for c in platform.request("GET", "/api/orders/cycles?status=open", token=coordinator)["items"])
    cycle = platform.request("POST", "/api/orders/cycles", token=coordinator, key=uuid.uuid4().hex, body={
        "name": "Ciclo para cerrar", "opens_at": open_cycle["opens_at"], "closes_at": open_cycle["closes_at"],
        "delivery_date": open_cycle["delivery_date"], "delivery_point_ids": open_cycle["delivery_point_ids"],
        "status": "open"})
    consumer = platform.login("consumidor4")
    product = next(p for p in platform.request("GET", "/api/catalog/products?category=tuberculos&limit=50")["items"]
                   if not p.get("case_size") and Decimal(p["available"]) >= 1)
    available = platform.request("GET", f"/api/delivery/points?open_on={cycle['delivery_date']}&limit=100")["items"]
    order = platform.request("POST", "/api/orders/orders", token=consumer, key=uuid.uuid4().hex, body={
        "cycle_id": cycle["id"], "delivery_point_id": available[0]["id"],
        "lines": [{"product_id": product["id"], "quantity": "1"}]})

    log_in(browser_like, "coordinacion")
    assert "Ciclo para cerrar" in browser_like.get("/coordinacion").text
    response = browser_like.post(f"/coordinacion/ciclos/{cycle['id']}/cerrar")
    assert response.status_code == 303
    lists = browser_like.get(response.headers["location"])
    assert lists.status_code == 200
    assert product["producer_name"] in lists.text and f"Pedido #{order['id']}" in lists.text
    assert order["pickup_code"] in lists.text
    csv = browser_like.get(f"/coordinacion/ciclos/{cycle['id']}/listas.csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert product["name"] in csv.text


def wait_for(probe, what: str, seconds: float = 30):
    """Events travel through the outbox relay: poll until `probe()` is truthy."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"{what} did not happen within {seconds} s")


def producer_one_is_owed(platform) -> dict:
    """A delivered, accepted consignment of producer 1 makes her eligible (orders -> delivery -> payments);
    returns her eligibility once payments knows it."""
    coordinator, consumer = platform.login("coordinacion"), platform.login("consumidor5")
    current = platform.request("GET", "/api/orders/cycles?status=open", token=coordinator)["items"][0]
    cycle = platform.request("POST", "/api/orders/cycles", token=coordinator, key=uuid.uuid4().hex, body={
        "name": "Ciclo con pronto pago", "opens_at": current["opens_at"], "closes_at": current["closes_at"],
        "delivery_date": current["delivery_date"], "delivery_point_ids": current["delivery_point_ids"],
        "status": "open"})
    product = next(p for p in platform.request("GET", "/api/catalog/products?producer=1&limit=50")["items"]
                   if not p.get("case_size") and Decimal(p["available"]) >= 15)
    point = platform.request("GET", f"/api/delivery/points?open_on={cycle['delivery_date']}&limit=1")["items"][0]
    platform.request("POST", "/api/orders/orders", token=consumer, key=uuid.uuid4().hex, body={
        "cycle_id": cycle["id"], "delivery_point_id": point["id"],
        "lines": [{"product_id": product["id"], "quantity": "15"}]})

    def close() -> bool:  # the orders service's own closing duty may be consolidating it at this moment
        try:
            platform.request("POST", f"/api/orders/cycles/{cycle['id']}/close", token=coordinator)
        except AssertionError as exc:
            if "idempotency_in_progress" in str(exc):
                return False
            raise
        return True

    wait_for(close, "closing the cycle")
    consignment = wait_for(lambda: platform.request(
        "GET", f"/api/delivery/consignments?cycle_id={cycle['id']}", token=coordinator)["items"], "consignments")[0]
    platform.request("POST", f"/api/delivery/consignments/{consignment['id']}/receive", token=coordinator,
                     key=uuid.uuid4().hex, body={"lines": [{"product_id": ln["product_id"],
                                                            "received_quantity": ln["ordered_quantity"]}
                                                           for ln in consignment["lines"]]})
    producer = platform.login("productor1")
    return wait_for(lambda: (e := platform.request("GET", "/api/payments/producers/1/eligibility",
                                                   token=producer))["offers"] and
                    Decimal(e["eligible_value"]) > 0 and e, "eligibility")


def test_producer_asks_for_an_early_payment_and_the_financier_sees_it_in_the_portfolio(browser_like, platform):
    eligibility = producer_one_is_owed(platform)
    offer = eligibility["offers"][0]
    amount = Decimal(offer["min_advance"])

    log_in(browser_like, "productor1")
    page = browser_like.get("/productor").text
    assert f"Condiciones de «{offer['policy_name']}» (versión {offer['policy_version']})" in page  # before she asks
    accepted = browser_like.post(f"/productor/condiciones/{offer['policy_id']}")
    assert accepted.status_code == 303 and "aviso=" in accepted.headers["location"]
    page = browser_like.get("/productor").text
    asked_before = page.count("Adelanto #")  # other journeys on this platform may have asked some already
    key = re.search(r'name="idempotency_key" value="([0-9a-f]+)"', page).group(1)
    offer = browser_like.post("/productor/adelanto/oferta", data={"amount": f"{amount:.2f}".replace(".", ","),
                                                                  "idempotency_key": key})
    shown = f"Bs {amount:.2f}".replace(".", ",")
    assert offer.status_code == 200 and "Nada está pedido todavía" in offer.text
    table = offer.text.split('id="offer"', 1)[1].split("</table>", 1)[0]
    assert shown in table and "Comisión" in table and re.search(r"\d{2}/\d{2}/\d{4}", table)
    assert browser_like.get("/productor").text.count("Adelanto #") == asked_before  # nothing asked before she confirms
    confirm = dict(re.findall(r'name="(amount|idempotency_key|policy_id)" value="([^"]*)"', offer.text))
    assert confirm["idempotency_key"] == key
    response = browser_like.post("/productor/adelanto", data=confirm)
    assert response.status_code == 303 and "aviso=" in response.headers["location"]
    assert (mine := browser_like.get("/productor").text).count("Adelanto #") == asked_before + 1 and shown in mine

    browser_like.cookies.clear()
    log_in(browser_like, "financiera")
    page = browser_like.get("/financiador").text
    assert f"productor 1 · {shown}" in page
    disbursed = re.search(r"Desembolsado</td><td class=\"num\">(Bs [\d.,]+)", page).group(1)
    assert disbursed != "Bs 0,00"


def test_financier_sees_the_portfolio(browser_like):
    log_in(browser_like, "financiera")
    page = browser_like.get("/financiador")
    assert page.status_code == 200
    assert re.search(r"Desembolsado</td><td class=\"num\">Bs \d", page.text)
    assert "Solicitudes por decidir" in page.text


def test_coordinator_dashboard_for_a_department_and_its_csv(browser_like):
    log_in(browser_like, "coordinacion")
    page = browser_like.get("/municipio", params={"departamento": "La Paz"})
    assert page.status_code == 200
    assert "Monitoreo del departamento de La Paz" in page.text
    csv = browser_like.get("/municipio/informe.csv", params={"department": "La Paz"})
    assert csv.status_code == 200 and "department,La Paz" in csv.text


def test_adding_to_the_cart_keeps_the_filters_and_refuses_a_bad_quantity(browser_like):
    page = browser_like.get("/", params={"categoria": "tuberculos"})
    product_id = re.search(r'name="product_id" value="(\d+)"', page.text).group(1)
    back = re.search(r'name="back" value="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    assert back == "/?categoria=tuberculos"
    bad = browser_like.post("/carrito", data={"product_id": product_id, "quantity": "dos", "back": back})
    assert bad.status_code == 303 and bad.headers["location"].startswith("/?categoria=tuberculos&error=")
    assert "mc_cart" not in bad.headers.get("set-cookie", "")
    good = browser_like.post("/carrito", data={"product_id": product_id, "quantity": "1,5", "back": back})
    assert good.headers["location"].startswith("/?categoria=tuberculos&aviso=")
    assert f"{product_id}:1.5" in good.headers["set-cookie"]


def test_an_expired_access_cookie_is_renewed_with_the_refresh_cookie(browser_like):
    log_in(browser_like, "productor1")
    browser_like.cookies.set("mc_access", "expired.or.tampered")
    response = browser_like.get("/productor")
    assert response.status_code == 200 and "Mis productos" in response.text
    renewed = [c for c in response.headers.get_list("set-cookie") if c.startswith("mc_access=")]
    assert renewed and "expired.or.tampered" not in renewed[0]


def test_producer_sees_her_pick_list_of_the_closed_demo_cycle(browser_like):
    from html import unescape

    from infra.demo_world import build_world
    from services.delivery.demo import demo_cycle_payload

    consignments = {c["producer_id"]: c for c in demo_cycle_payload(build_world())["consignments"]}
    producer_id = next(n for n in range(1, 11) if n in consignments)  # demo accounts productor1..10
    assert log_in(browser_like, f"productor{producer_id}").status_code == 303
    page = unescape(browser_like.get("/productor").text)
    table = page.split('id="pick-list"', 1)[1].split("</table>", 1)[0]
    for line in consignments[producer_id]["lines"]:
        assert line["product_name"] in table


def test_the_cart_never_offers_a_cycle_whose_points_are_all_closed_on_its_delivery_day(browser_like, platform):
    # a point closes on its cycle's delivery day after the cycle was made (its schedule changed)
    coordinator = platform.login("coordinacion")
    current = platform.request("GET", "/api/orders/cycles?status=open", token=coordinator)["items"][0]
    delivery_day = date.fromisoformat(current["delivery_date"])
    point = platform.request("POST", "/api/delivery/points", token=coordinator, body={
        "name": "Punto que cambió de día", "kind": "punto_comunitario", "address": "Calle 1", "municipality_code":
        "020101", "lat": -16.51, "lon": -68.12, "max_orders_per_cycle": 10,
        "schedule": [{"weekday": delivery_day.weekday(), "opens": "08:00", "closes": "12:00"}]})
    stranded = platform.request("POST", "/api/orders/cycles", token=coordinator, key=uuid.uuid4().hex, body={
        "name": "Ciclo sin puntos abiertos", "opens_at": current["opens_at"], "closes_at": current["closes_at"],
        "delivery_date": current["delivery_date"], "delivery_point_ids": [point["id"]], "status": "open"})
    other_day = (delivery_day.weekday() + 1) % 7
    platform.request("PATCH", f"/api/delivery/points/{point['id']}", token=coordinator,
                     body={"schedule": [{"weekday": other_day, "opens": "08:00", "closes": "12:00"}]})
    try:
        log_in(browser_like, "consumidor3")
        product = platform.request("GET", "/api/catalog/products?limit=1")["items"][0]
        browser_like.post("/carrito", data={"product_id": product["id"], "quantity": "1"})
        page = browser_like.get("/carrito").text
        assert stranded["name"] not in page  # the newest open cycle, but nobody could pick up its orders
        assert current["name"] in page and 'id="confirm-button"' in page
    finally:  # the platform is shared: leave no open cycle nor point behind
        platform.request("POST", f"/api/orders/cycles/{stranded['id']}/close", token=coordinator)
        platform.request("DELETE", f"/api/delivery/points/{point['id']}", token=coordinator)


def test_the_cart_says_what_to_do_when_no_open_cycle_has_a_point_open_on_its_delivery_day(browser_like, platform):
    coordinator = platform.login("coordinacion")
    open_cycles = platform.request("GET", "/api/orders/cycles?status=open&limit=100", token=coordinator)["items"]
    delivery_days = {date.fromisoformat(c["delivery_date"]).weekday() for c in open_cycles}
    other_day = next(d for d in range(7) if d not in delivery_days)
    points = {pid for c in open_cycles for pid in c["delivery_point_ids"]}
    schedules = {pid: platform.request("GET", f"/api/delivery/points/{pid}")["schedule"] for pid in points}
    try:  # every point of every open cycle now opens on another day (schedules changed after the cycles)
        for pid in points:
            platform.request("PATCH", f"/api/delivery/points/{pid}", token=coordinator,
                             body={"schedule": [{"weekday": other_day, "opens": "08:00", "closes": "12:00"}]})
        log_in(browser_like, "consumidor4")
        product = platform.request("GET", "/api/catalog/products?limit=1")["items"][0]
        browser_like.post("/carrito", data={"product_id": product["id"], "quantity": "1"})
        page = browser_like.get("/carrito").text
        assert 'id="no-points"' in page and "ninguno de sus puntos de entrega" in page
        assert "vuelva en unos días" in page and 'id="confirm-button"' not in page
        assert "No se pudieron calcular las tarifas" not in page
    finally:
        for pid, schedule in schedules.items():
            platform.request("PATCH", f"/api/delivery/points/{pid}", token=coordinator, body={"schedule": schedule})
