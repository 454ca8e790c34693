"""The "Avisos" page against the running platform: an order placed by a consumer reaches her inbox
through the events (orders -> relay -> gateway), with the unread count in the header."""

import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.web.test_pages import BrowserLike, log_in, wait_for


@pytest.fixture
def browser_like(platform):
    with BrowserLike(base_url=platform.url, follow_redirects=False, timeout=30) as client:
        yield client


def test_an_order_placed_shows_under_avisos_with_the_unread_count(browser_like, platform):
    coordinator = platform.login("coordinacion")
    now = datetime.now(UTC)
    saturday = (now + timedelta(days=2 + (5 - (now + timedelta(days=2)).weekday()) % 7)).date()  # most points open
    open_then = platform.request("GET", f"/api/delivery/points?open_on={saturday.isoformat()}&limit=100")["items"]
    cycle = platform.request("POST", "/api/orders/cycles", token=coordinator, key=uuid.uuid4().hex, body={
        "name": "Ciclo con avisos", "opens_at": (now - timedelta(hours=1)).isoformat(),
        "closes_at": (now + timedelta(days=1)).isoformat(), "delivery_date": saturday.isoformat(),
        "delivery_point_ids": [p["id"] for p in open_then], "status": "open"})
    consumer = platform.login("consumidor3")
    product = next(p for p in platform.request("GET", "/api/catalog/products?category=tuberculos&limit=50")["items"]
                   if not p.get("case_size") and Decimal(p["available"]) >= 1)
    points = platform.request("GET", f"/api/delivery/points?open_on={cycle['delivery_date']}&limit=100")["items"]
    order = platform.request("POST", "/api/orders/orders", token=consumer, key=uuid.uuid4().hex, body={
        "cycle_id": cycle["id"], "delivery_point_id": points[0]["id"],
        "lines": [{"product_id": product["id"], "quantity": "1"}]})

    log_in(browser_like, "consumidor3")
    page = wait_for(lambda: (r := browser_like.get("/avisos")).status_code == 200
                    and f"Pedido #{order['id']} confirmado" in r.text and r, "the order.placed notification")
    assert order["pickup_code"] in page.text and points[0]["name"] in page.text
    count = re.search(r'class="count"[^>]*>(\d+)<', page.text)
    assert count and int(count.group(1)) >= 1

    assert browser_like.post("/avisos/leidos").status_code == 303
    assert 'class="count"' not in browser_like.get("/avisos").text


def test_an_account_chooses_what_it_receives_on_the_avisos_page(browser_like, platform):
    log_in(browser_like, "productor2")
    page = browser_like.get("/avisos")
    assert page.status_code == 200 and "Cómo recibir los avisos" in page.text
    saved = browser_like.post("/avisos/preferencias", data={"receive": ["pick_list_ready", "goods_received"]})
    assert saved.status_code == 303
    prefs = platform.request("GET", "/api/notifications/preferences", token=platform.login("productor2"))
    assert "pick_list_ready" not in prefs["muted_kinds"] and "advance_repaid" in prefs["muted_kinds"]
    assert "session_revoked" not in prefs["muted_kinds"]  # security messages cannot be muted
