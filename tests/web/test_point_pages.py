"""The delivery point's pages over plain HTTP against the running platform: an account the coordinator
assigned to a point hands an order over by its code, and the coordinator receives a producer's goods
rejecting one line with a reason, which the producer then reads."""

from decimal import Decimal
from urllib.parse import unquote

import pytest

from gateway.web.point import said
from gateway.web.session import UpstreamError
from tests.web.point_world import set_up_point_day
from tests.web.test_pages import BrowserLike, log_in

STAFF = "consumidor2"  # any account may be assigned to a point: here a neighbour who helps there


@pytest.fixture
def browser_like(platform):
    with BrowserLike(base_url=platform.url, follow_redirects=False, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def point_day(platform) -> dict:
    return set_up_point_day(platform, staff=STAFF, consumer="consumidor3", producer_id=2)


def shown_after(client, response) -> str:
    assert response.status_code == 303, response.text[:300]
    return client.get(response.headers["location"]).text


def test_point_staff_hands_an_order_over_by_its_code_and_a_wrong_code_is_refused_in_spanish(browser_like,
                                                                                            platform, point_day):
    order = point_day["order"]
    log_in(browser_like, STAFF)
    page = browser_like.get("/punto").text
    assert 'href="/punto"' in page and point_day["point"]["name"] in page and f"Pedido #{order['id']}" in page
    assert order["pickup_code"] not in page  # the list never shows the codes
    assert f'name="order_id" value="{order["id"]}"' in page  # a box to type its code

    form = {"order_id": str(order["id"]), "point_id": str(point_day["point"]["id"])}
    wrong = browser_like.post("/punto/recojo", data={**form, "pickup_code": "ZZZZ2222"})
    assert "?error=" in wrong.headers["location"]
    assert f"El código no coincide con el pedido #{order['id']}" in unquote(wrong.headers["location"])
    assert "El código no coincide" in shown_after(browser_like, wrong)

    forged = browser_like.post("/punto/recojo", data={**form, "pickup_code": order["pickup_code"]},
                               headers={"Origin": "https://evil.example"})
    assert forged.status_code == 403  # another site cannot hand the order over in her name

    right = browser_like.post("/punto/recojo", data={**form, "pickup_code": order["pickup_code"].lower()})
    page = shown_after(browser_like, right)
    assert f"Pedido #{order['id']} entregado." in page
    # handed over: the list (bounded; still-to-hand-over first) no longer offers its code box
    listed = platform.request("GET", f"/api/delivery/pickups?cycle_id={order['cycle_id']}", token=platform.login(STAFF))
    assert next(p["status"] for p in listed if p["order_id"] == str(order["id"])) == "picked_up"
    assert f'name="order_id" value="{order["id"]}"' not in page


def test_an_account_on_no_point_gets_no_link_and_can_neither_hand_over_nor_receive(browser_like, point_day):
    order = point_day["order"]
    log_in(browser_like, "consumidor5")
    page = browser_like.get("/").text
    assert 'href="/punto"' not in page
    refused = browser_like.post("/punto/recojo", data={"order_id": str(order["id"]),
                                                       "point_id": str(point_day["point"]["id"]),
                                                       "pickup_code": order["pickup_code"]})
    assert "Su cuenta no atiende ese punto" in unquote(refused.headers["location"])
    foreign = browser_like.get(f"/punto/entregas/{point_day['consignment']['id']}")
    assert foreign.status_code == 403 and "Su cuenta no recibe en ese punto" in foreign.text


def test_coordinator_receives_goods_rejecting_a_line_with_a_reason_the_producer_then_reads(browser_like,
                                                                                          platform, point_day):
    consignment, product = point_day["consignment"], point_day["product"]
    line = next(ln for ln in consignment["lines"] if ln["product_id"] == product["id"])
    log_in(browser_like, "coordinacion")
    assert f'href="/punto/entregas/{consignment["id"]}"' in browser_like.get("/punto").text
    form_page = browser_like.get(f"/punto/entregas/{consignment['id']}").text
    assert "Cadena de frío rota" in form_page and f'name="recibido_{product["id"]}"' in form_page

    data = {f"recibido_{ln['product_id']}": ln["ordered_quantity"] for ln in consignment["lines"]}
    too_much = browser_like.post(f"/punto/entregas/{consignment['id']}/recibir",
                                 data={**data, f"recibido_{product['id']}": "99"})
    assert "no reciba más de lo pedido" in shown_after(browser_like, too_much)
    no_reason = browser_like.post(f"/punto/entregas/{consignment['id']}/recibir",
                                  data={**data, f"rechazado_{product['id']}": "1"})
    assert "elija el motivo del rechazo" in shown_after(browser_like, no_reason)

    data.update({f"rechazado_{product['id']}": "1", f"motivo_{product['id']}": "damaged",
                 f"nota_{product['id']}": "papas golpeadas"})
    page = shown_after(browser_like, browser_like.post(f"/punto/entregas/{consignment['id']}/recibir", data=data))
    assert "Entrega recibida." in page and "Dañado o golpeado: papas golpeadas" in page
    assert 'name="recibido_' not in page  # received once; the page now shows the receipt

    producer = platform.login("productor2")
    seen = platform.request("GET", f"/api/delivery/consignments/{consignment['id']}", token=producer)
    mine = next(ln for ln in seen["lines"] if ln["product_id"] == product["id"])
    assert seen["status"] == "received"
    assert Decimal(mine["rejected_quantity"]) == 1 and Decimal(mine["received_quantity"]) == Decimal(line["ordered_quantity"])
    assert mine["reject_reason"] == "Dañado o golpeado: papas golpeadas"


def test_a_locked_pickup_code_is_said_in_spanish_with_the_minutes_to_wait():
    locked = UpstreamError("wrong pickup code, 5 times: you are locked out", code="too_many_attempts", status=429,
                           details={"retry_after_seconds": 900})
    assert said(locked, order_id="42") == ("Demasiados códigos equivocados para el pedido #42: espere 15 minutos "
                                           "o pida a otra persona del punto que lo revise.")
