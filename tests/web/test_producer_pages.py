"""The producer's and the organization's pages over plain HTTP against the running platform: who may
open what (another organization's member is a 404, never an empty page), and bad input answered in
Spanish with a 4xx that leaves nothing behind."""

import random
import re

import pytest

from tests.web.test_pages import BrowserLike, log_in, wait_for

RUN = f"{random.randint(0, 999999):06d}"


@pytest.fixture
def browser_like(platform):
    with BrowserLike(base_url=platform.url, follow_redirects=False, timeout=30) as client:
        yield client


def products_named(platform, name: str) -> list[dict]:
    return platform.request("GET", "/api/catalog/products?q=" + name.replace(" ", "+"))["items"]


def test_an_organization_cannot_open_or_act_for_another_organizations_member(browser_like, platform):
    assert log_in(browser_like, "organizacion1").status_code == 303
    made = browser_like.post("/organizacion/socias", data={"name": f"Sabina Condori {RUN}", "gender": "female"})
    assert made.status_code == 303, made.text
    member = made.headers["location"].split("?")[0]
    assert browser_like.get(member).status_code == 200

    browser_like.cookies.clear()
    assert log_in(browser_like, "organizacion2").status_code == 303
    assert browser_like.get(member).status_code == 404
    assert browser_like.get(member + "/productos/nuevo").status_code == 404
    crop = f"Tarwi {RUN}"
    tried = browser_like.post(member + "/productos/nuevo", data={
        "name": crop, "category": "granos_andinos", "unit": "libra", "price": "8", "available": "5"})
    assert tried.status_code == 404 and "no es socia de su organización" in tried.text
    assert products_named(platform, crop) == []

    browser_like.cookies.clear()
    assert log_in(browser_like, "productor2").status_code == 303
    refused = browser_like.get("/organizacion")
    assert refused.status_code == 303 and refused.headers["location"].startswith("/ingresar")


def test_a_file_that_is_not_a_photo_is_refused_and_no_product_is_left_behind(browser_like, platform):
    assert log_in(browser_like, "productor3").status_code == 303
    crop = f"Ajo morado {RUN}"
    answer = browser_like.post("/productor/productos/nuevo", files={"photo": ("foto.jpg", b"MZ not a picture")},
                               data={"name": crop, "category": "hortalizas", "unit": "libra", "price": "6,50",
                                     "available": "10"})
    assert answer.status_code == 422 and "no es una foto" in answer.text
    assert f'value="{crop}"' in answer.text  # what she typed is still there
    assert products_named(platform, crop) == []
    wrong = browser_like.post("/productor/productos/nuevo", data={"name": crop, "category": "hortalizas",
                                                                  "unit": "saco", "price": "seis"})
    assert wrong.status_code == 422
    assert "Elija la unidad" in wrong.text and "precio en bolivianos" in wrong.text
    assert products_named(platform, crop) == []


def test_registration_refuses_a_taken_phone_and_a_new_producer_first_completes_her_profile(browser_like):
    phone = f"6{RUN}1"
    created = browser_like.post("/productor/registro", data={"name": "Eva Choque", "phone": phone,
                                                             "password": "clave larga 1"})
    assert created.status_code == 303 and created.headers["location"].startswith("/productor/perfil")
    assert browser_like.get("/productor").headers["location"] == "/productor/perfil"
    assert browser_like.get("/productor/productos/nuevo").status_code == 303  # nothing to sell as yet
    profile = browser_like.get("/productor/perfil")
    assert profile.status_code == 200 and 'name="municipality_code"' in profile.text

    browser_like.cookies.clear()
    again = browser_like.post("/productor/registro", data={"name": "Otra", "phone": phone, "password": "clave larga 2"})
    assert again.status_code == 409 and "Ya hay una cuenta con ese celular" in again.text
    short = browser_like.post("/productor/registro", data={"name": "Otra", "phone": "12", "password": "clave larga 2"})
    assert short.status_code == 422 and "número de celular" in short.text


def test_the_organization_sees_its_delivery_and_the_producer_what_the_point_rejected_and_why(browser_like, platform, saturday_cycle):
    from html import unescape

    from tests.web.point_world import set_up_point_day

    day = set_up_point_day(platform, staff="coordinacion", consumer="consumidor5", producer_id=4,
                           quantity=20)  # enough accepted for the smallest advance
    product, consignment = day["product"], day["consignment"]
    assert log_in(browser_like, "organizacion4").status_code == 303  # producer 4's organization
    home = unescape(browser_like.get("/organizacion").text)
    together = home.split('id="consolidated"', 1)[1].split("</table>", 1)[0]
    assert product["name"] in together and day["point"]["name"] in together
    member = unescape(browser_like.get("/organizacion/socias/4").text)
    assert product["name"] in member.split('id="pick-list"', 1)[1].split("</table>", 1)[0]
    browser_like.cookies.clear()
    platform.request("POST", f"/api/delivery/consignments/{consignment['id']}/receive",
                     token=platform.login("coordinacion"), body={"lines": [{
                         "product_id": product["id"], "received_quantity": "20", "rejected_quantity": "1",
                         "reject_reason": "No está fresco: hojas marchitas"}]})
    assert log_in(browser_like, "productor4").status_code == 303
    page = unescape(browser_like.get("/productor").text)
    delivery = page.split(f'data-consignment-id="{consignment["id"]}"', 1)[1].split("</table>", 1)[0]
    line = delivery.split(f'data-product-id="{product["id"]}"', 1)[1].split("</tr>", 1)[0]
    assert product["name"] in line and "No está fresco: hojas marchitas" in line
    assert ">1<" in line.replace(" ", "")  # one rejected
    browser_like.cookies.clear()
    assert log_in(browser_like, "organizacion4").status_code == 303  # her organization reads it too
    member_page = unescape(browser_like.get("/organizacion/socias/4").text)
    assert "No está fresco: hojas marchitas" in member_page
    ours = wait_for(lambda: 'id="organization-statement"' in (h := browser_like.get("/organizacion").text) and h,
                    "the organization's statement")
    statement = unescape(ours).split('id="organization-statement"', 1)[1].split("</table>", 1)[0]
    assert 'href="/organizacion/socias/4"' in statement  # her accepted delivery, in the organization's totals

    # and asks for her advance on what was accepted, with her consent recorded, after reading the offer
    eligibility = wait_for(lambda: (e := platform.request("GET", "/api/payments/producers/4/eligibility",
                                                          token=platform.login("productor4")))["offers"]
                           and any(o["available"] for o in e["offers"]) and e, "eligibility")
    offered = next(o for o in eligibility["offers"] if o["available"])
    amount = offered["min_advance"].replace(".", ",")
    # her organization accepted the fund's terms for her, with her consent, before any advance
    platform.request("POST", f"/api/payments/advance-policies/{offered['policy_id']}/acceptances",
                     token=platform.login("organizacion4"),
                     body={"producer_id": 4, "consent": "Acta de la reunión del lunes, firmada por ella"})
    key = re.search(r'name="idempotency_key" value="([0-9a-f]+)"', member_page).group(1)
    without = browser_like.post("/organizacion/socias/4/adelanto/oferta", data={"amount": amount,
                                                                               "idempotency_key": key})
    assert without.status_code == 303 and "dijo%20que%20s" in without.headers["location"]
    said = "En la reunión del lunes, ante la secretaria"
    offer = browser_like.post("/organizacion/socias/4/adelanto/oferta",
                              data={"amount": amount, "idempotency_key": key, "consent": said})
    assert offer.status_code == 200 and "Nada está pedido todavía" in offer.text and said in unescape(offer.text)
    confirm = dict(re.findall(r'name="(amount|idempotency_key|policy_id|consent)" value="([^"]*)"', offer.text))
    asked = browser_like.post("/organizacion/socias/4/adelanto", data={k: unescape(v) for k, v in confirm.items()})
    assert asked.status_code == 303 and "aviso=" in asked.headers["location"]
    hers = platform.request("GET", "/api/payments/advances", token=platform.login("productor4"))
    assert hers and hers[0]["consent"] == said  # she (and her financier) read who asked and how she agreed
