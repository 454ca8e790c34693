"""The municipality's reference-price page and the admin pages over plain HTTP against the running
platform: a price with its fair band is entered, kept as a history and downloaded; a wrong band is
refused in Spanish with nothing saved; a municipality enters prices only for its own territory; the
admin pages are for admins only; the first load of each new page stays under 150 KB."""

import csv
import io
import re
import uuid

import pytest

from tests.web.conftest import ARTIFACTS
from tests.web.test_page_weight import LIMIT, Assets
from tests.web.test_pages import BrowserLike, log_in


@pytest.fixture
def client(platform):
    with BrowserLike(base_url=platform.url, follow_redirects=False, timeout=60) as c:
        yield c


def add_price(client, **fields):
    body = {"unidad": "arroba", "desde": "", **fields}
    return client.post("/municipio/precios", data=body)


def first_load_bytes(client, path: str) -> int:
    """What a first visit to `path` transfers: the page and everything it pulls (stylesheet, icon,
    script), headers included, compressed as sent."""
    def size(url: str) -> tuple[int, bytes]:
        r = client.get(url, headers={"Accept-Encoding": "gzip, br"})
        assert r.status_code == 200, (url, r.status_code)
        return sum(len(k) + len(v) + 4 for k, v in r.headers.raw) + 20 + r.num_bytes_downloaded, r.content

    total, html = size(path)
    parser = Assets()
    parser.feed(html.decode())
    for url in parser.urls:
        assert url.startswith("/"), f"{url} is not served by us"
        total += size(url)[0]
    return total


def test_a_municipality_keeps_its_reference_prices_as_a_history_with_a_band(client, platform):
    product = f"Oca de prueba {uuid.uuid4().hex[:6]}"
    log_in(client, "municipio.lapaz")
    first = add_price(client, producto=product, precio="20,00", minimo="18", maximo="25", desde="2026-01-01")
    assert first.status_code == 303 and "aviso=" in first.headers["location"], first.headers.get("location")
    second = add_price(client, producto=product, precio="22,50", minimo="20", maximo="26,50")
    assert "aviso=" in second.headers["location"]

    page = client.get("/municipio/precios").text
    history = page[page.index('id="price-history"'):]
    rows = [r for r in re.findall(r"<tr>(.*?)</tr>", history, re.S) if product in r]
    assert len(rows) == 2
    assert "Bs 20,00" in rows[0] and "Bs 22,50" in rows[0] and "Bs 26,50" in rows[0] and "vigente" in rows[0]
    assert "Bs 18,00" in rows[1] and "2026-01-01" in rows[1] and "vigente" not in rows[1]

    download = client.get("/municipio/precios.csv")
    assert download.headers["content-type"].startswith("text/csv")
    lines = [r for r in csv.DictReader(io.StringIO(download.content.decode("utf-8-sig"))) if r["producto"] == product]
    assert sorted((r["precio_referencia"], r["minimo_productor"], r["maximo_consumidor"], r["vigente_desde"])
                  for r in lines)[0] == ("20.00", "18.00", "25.00", "2026-01-01")
    assert {r["municipio"] for r in lines} == {"020101"} and len(lines) == 2
    assert lines[0]["vigente_hasta"] == lines[1]["vigente_desde"] or lines[1]["vigente_hasta"] == lines[0]["vigente_desde"]


def test_a_wrong_band_is_refused_in_spanish_and_nothing_is_saved(client, platform):
    product = f"Oca mal escrita {uuid.uuid4().hex[:6]}"
    log_in(client, "municipio.lapaz")
    for fields, says in (({"precio": "20", "minimo": "25"}, "banda justa debe contener el precio"),
                         ({"precio": "veinte"}, "con números"),
                         ({"precio": ""}, "Escriba el precio de referencia"),
                         ({"precio": "20", "unidad": "tonelada"}, "Elija la unidad")):
        answer = add_price(client, producto=product, **fields)
        assert answer.status_code == 303
        shown = client.get(answer.headers["location"])
        assert says in shown.text, (fields, answer.headers["location"])
    assert product not in client.get("/municipio/precios").text


def test_a_municipality_enters_prices_only_for_its_own_territory(client, platform):
    product = f"Oca ajena {uuid.uuid4().hex[:6]}"
    log_in(client, "municipio.lapaz")
    add_price(client, producto=product, precio="20", municipio="020105")  # the form's field is ignored
    alto = platform.request("GET", "/api/catalog/reference-prices?municipality=020105&limit=100")["items"]
    assert product not in {r.get("product_name") for r in alto}
    own = platform.request("GET", "/api/catalog/reference-prices?municipality=020101&limit=100&history=true")
    assert product in {r.get("product_name") for r in own["items"]}
    assert client.get("/municipio/precios", params={"municipio": "020105"}).text.count(product) == 2  # its own


@pytest.mark.parametrize("who", ["consumidor1", "municipio.lapaz", "coordinacion", "organizacion1", "financiera"])
def test_admin_pages_are_for_admins_only(client, who):
    log_in(client, who)
    for path in ("/admin", "/admin/registro", "/admin/municipios", "/admin/cuentas/1"):
        answer = client.get(path)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/ingresar"), (who, path)
    for path in ("/admin/cuentas/1/desactivar", "/admin/cuentas/1/rol", "/admin/municipios"):
        answer = client.post(path, data={"role": "admin", "code": "099999", "name": "X", "province": "X",
                                         "department": "X"})
        assert answer.status_code == 303 and answer.headers["location"].startswith("/ingresar"), (who, path)


def test_admin_finds_accounts_and_sees_the_registry_and_municipalities(client):
    log_in(client, "admin")
    found = client.get("/admin", params={"q": "municipio.lapaz"}).text
    assert "Gobierno Autónomo Municipal" in found
    registry = client.get("/admin/registro").text
    assert re.search(r"<td>(Cooperativa|Asociación|OECA|CORACA)</td><td>(Consolidada|En consolidación|Embrionaria)</td>",
                     registry)
    assert 'id="producers"' in registry
    municipalities = client.get("/admin/municipios").text
    assert "020101" in municipalities and "Gobierno Autónomo Municipal" in municipalities
    wrong = client.post("/admin/cuentas/1/vinculos", data={"producer_id": "uno"})
    assert "error=" in wrong.headers["location"]
    assert "número de registro" in client.get(wrong.headers["location"]).text


def test_new_pages_first_load_under_150_kb(client):
    sizes = {}
    log_in(client, "municipio.lapaz")
    sizes["/municipio/precios"] = first_load_bytes(client, "/municipio/precios")
    sizes["/municipio"] = first_load_bytes(client, "/municipio")
    client.cookies.clear()
    log_in(client, "admin")
    for path in ("/admin", "/admin/registro", "/admin/municipios"):
        sizes[path] = first_load_bytes(client, path)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "municipality-admin-weight.txt").write_text("".join(f"{p} {n} bytes\n" for p, n in sizes.items()))
    assert all(n < LIMIT for n in sizes.values()), sizes


def test_the_dashboard_puts_the_band_of_the_product_name_else_of_its_category_beside_the_price_paid():
    from gateway.web.municipality import with_bands

    references = [{"product": "Papa Huaycha", "category": "tuberculos", "unit": "arroba", "band_min": "45.00",
                   "band_max": "60.00"},
                  {"product": None, "category": "tuberculos", "unit": "arroba", "band_min": "30.00",
                   "band_max": None},
                  {"product": "Papa huaycha", "category": "tuberculos", "unit": "kg", "band_min": "4.00",
                   "band_max": "6.00"}]
    items = [{"product": "papa  huaychá", "category": "tuberculos", "unit": "arroba"},
             {"product": "Oca", "category": "tuberculos", "unit": "arroba"},
             {"product": "Haba", "category": "hortalizas", "unit": "arroba"}]
    assert [(i["band_min"], i["band_max"]) for i in with_bands(items, references)] == [
        ("45.00", "60.00"), ("30.00", None), (None, None)]


def test_admin_links_changes_the_role_and_deactivates_an_account_from_its_page(client, platform):
    login = f"cuenta-{uuid.uuid4().hex[:8]}@ejemplo.bo"
    account = platform.request("POST", "/api/auth/register", body={
        "email": login, "password": "una clave larga", "name": "Rosa Mamani", "role": "consumer"})
    page = f"/admin/cuentas/{account['id']}"
    log_in(client, "admin")

    def act(action: str, **form) -> str:
        answer = client.post(f"{page}/{action}", data=form)
        assert answer.status_code == 303 and answer.headers["location"].startswith(page), answer.headers
        return client.get(answer.headers["location"]).text

    assert "Ese rol necesita su vínculo" in act("rol", role="municipality")
    assert "Vínculos guardados." in act("vinculos", municipality_code="020101", producer_id="", organization_id="",
                                       financier_id="")
    assert "Rol cambiado a Municipio." in act("rol", role="municipality")
    token = platform.request("POST", "/api/auth/login", body={"login": login, "password": "una clave larga"})
    assert platform.request("GET", "/api/price-alerts", token=token["access_token"]) is not None  # now a municipality

    assert "Cuenta desactivada" in act("desactivar")
    with pytest.raises(AssertionError, match="account_disabled"):
        platform.request("POST", "/api/auth/login", body={"login": login, "password": "una clave larga"})
    assert "Cuenta activada." in act("activar")
    platform.request("POST", "/api/auth/login", body={"login": login, "password": "una clave larga"})
