"""Who the coordinator's pages show a cycle to, over plain HTTP against the running platform: its
coordinator and admins; another coordinator neither finds it among her cycles nor opens its page or
lists, and every change she posts on it is refused by the services and changes nothing; consumers
and visitors get the login form. The pages' rows of the authorization matrix (the matrix itself
covers the services' operations these pages call)."""

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import pytest

from tests.web.platform import DEMO_DOMAIN, DEMO_PASSWORD
from tests.web.test_pages import BrowserLike, wait_for

ROLES = ("owner", "other_coordinator", "admin", "consumer", "anonymous")
# page -> who is shown it (200); everyone else gets a refusal page (403, 404) or the login form (303)
PAGES = {
    "/coordinacion/ciclos/{id}": {"owner", "admin"},
    "/coordinacion/ciclos/{id}/listas": {"owner", "admin"},
    "/coordinacion/ciclos/{id}/listas.csv": {"owner", "admin"},
    "/coordinacion/ciclos/{id}/listas.pdf": {"owner", "admin"},
    "/coordinacion/ciclos/{id}/pedidos/{order}": {"owner", "admin"},
    "/coordinacion/ciclos/nuevo": {"owner", "other_coordinator", "admin"},
    "/coordinacion": {"owner", "other_coordinator", "admin"},
}


@pytest.fixture(scope="module")
def scene(platform) -> dict:
    """An open cycle of the demo coordinator with one order, and a second coordinator's login."""
    owner = platform.login("coordinacion")
    current = platform.request("GET", "/api/orders/cycles?status=open", token=owner)["items"][0]
    name = f"Ciclo ajeno {uuid.uuid4().hex[:6]}"
    cycle = platform.request("POST", "/api/orders/cycles", token=owner, key=uuid.uuid4().hex, body={
        "name": name, "opens_at": current["opens_at"], "closes_at": current["closes_at"],
        "delivery_date": current["delivery_date"], "delivery_point_ids": current["delivery_point_ids"],
        "status": "open"})
    product = next(p for p in platform.request("GET", "/api/catalog/products?limit=100")["items"]
                   if not p.get("case_size") and Decimal(p["available"]) >= 2)
    point_id = cycle["delivery_point_ids"][0]
    order = platform.request("POST", "/api/orders/orders", token=platform.login("consumidor3"), key=uuid.uuid4().hex,
                             body={"cycle_id": cycle["id"], "delivery_point_id": point_id,
                                   "lines": [{"product_id": product["id"], "quantity": "1"}]})
    email = f"coordinadora.{uuid.uuid4().hex[:8]}@{DEMO_DOMAIN}"
    account = platform.request("POST", "/api/auth/register", body={
        "email": email, "password": DEMO_PASSWORD, "name": "Otra Coordinadora", "role": "consumer"})
    platform.request("PATCH", f"/api/auth/accounts/{account['id']}", token=platform.login("admin"),
                     body={"role": "coordinator"})
    return {"cycle": cycle, "name": name, "order": order, "point_id": point_id, "other": email,
            "other_id": account["id"]}


@contextmanager
def visitor(platform, role: str, scene: dict) -> Iterator[BrowserLike]:
    logins = {"owner": f"coordinacion@{DEMO_DOMAIN}", "admin": f"admin@{DEMO_DOMAIN}",
              "consumer": f"consumidor3@{DEMO_DOMAIN}", "other_coordinator": scene["other"]}
    with BrowserLike(base_url=platform.url, follow_redirects=False, timeout=30) as client:
        if role in logins:
            login = client.post("/ingresar", data={"login": logins[role], "password": DEMO_PASSWORD})
            assert login.status_code == 303
        yield client


def test_a_cycle_is_shown_only_to_its_coordinator_and_admins(platform, scene):
    shown = {page: set() for page in PAGES}
    for role in ROLES:
        with visitor(platform, role, scene) as client:
            for page in PAGES:
                response = client.get(page.format(id=scene["cycle"]["id"], order=scene["order"]["id"]))
                assert response.status_code in (200, 303, 403, 404), f"{page} as {role}: {response.status_code}"
                if response.status_code == 200 and (page != "/coordinacion" or scene["name"] in response.text):
                    shown[page].add(role)
    assert shown == {page: (roles if page != "/coordinacion" else {"owner", "admin"}) for page, roles in PAGES.items()}


def test_another_coordinator_changes_nothing_on_a_cycle_that_is_not_hers(platform, scene):
    cycle_id, order_id = scene["cycle"]["id"], scene["order"]["id"]
    owner = platform.login("coordinacion")
    wait_for(lambda: platform.request("GET", f"/api/payments/orders/{order_id}/balance", token=owner),
             "payments learning of the order")
    with visitor(platform, "other_coordinator", scene) as other:
        for action, form in (("pagos", {"pedido": str(order_id), "monto": "1,00", "metodo": "cash", "tipo": "pago"}),
                             ("pagos", {"pedido": str(order_id), "monto": "1,00", "metodo": "qr",
                                        "tipo": "devolucion"}),
                             ("personal", {"punto": str(scene["point_id"]), "cuenta": scene["other"]}),
                             ("personal/quitar", {"punto": str(scene["point_id"]), "cuenta": str(scene["other_id"])}),
                             ("no-recogidos", {}), ("rutas", {"vehiculos": "1", "capacidad": "500"}),
                             ("abrir", {}), ("cerrar", {})):
            refused = other.post(f"/coordinacion/ciclos/{cycle_id}/{action}", data=form)
            assert refused.status_code == 303 and "?error=" in refused.headers["location"], action
    balance = platform.request("GET", f"/api/payments/orders/{order_id}/balance", token=owner)
    assert Decimal(balance["paid"]) == 0 and Decimal(balance["refunded"]) == 0
    assert platform.request("GET", f"/api/delivery/cycles/{cycle_id}/staff", token=owner) == []
    assert platform.request("GET", f"/api/orders/cycles/{cycle_id}", token=owner)["status"] == "open"


def test_the_coordinator_assigns_someone_to_a_point_by_her_login_and_takes_her_off(platform, scene):
    cycle_id, point_id = scene["cycle"]["id"], scene["point_id"]
    owner = platform.login("coordinacion")
    with visitor(platform, "owner", scene) as client:
        unknown = client.post(f"/coordinacion/ciclos/{cycle_id}/personal",
                              data={"punto": str(point_id), "cuenta": "nadie@ejemplo.bo"})
        assert "No hay ninguna cuenta activa con «nadie@ejemplo.bo»." in client.get(unknown.headers["location"]).text
        assigned = client.post(f"/coordinacion/ciclos/{cycle_id}/personal",
                               data={"punto": str(point_id), "cuenta": "+591 79000005"})  # by phone
        page = client.get(assigned.headers["location"]).text
        assert "Diego Gutiérrez Flores atiende ahora el punto." in page
        staff = platform.request("GET", f"/api/delivery/cycles/{cycle_id}/staff", token=owner)
        assert [(s["point_id"], s["account_id"]) for s in staff] == [(point_id, staff[0]["account_id"])]
        removed = client.post(f"/coordinacion/ciclos/{cycle_id}/personal/quitar",
                              data={"punto": str(point_id), "cuenta": str(staff[0]["account_id"])})
        assert "Ya no atiende ese punto" in client.get(removed.headers["location"]).text
    assert platform.request("GET", f"/api/delivery/cycles/{cycle_id}/staff", token=owner) == []
