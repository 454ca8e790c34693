"""The waitlist's promise, kept end to end through the gateway on real processes (SQLite and
PostgreSQL), with the notifications people get:

a point of capacity 2 in a new cycle; four consumers order with `wait_if_full`; two are placed, two
wait at positions 1 and 2 with their stock reserved; a placed order is cancelled -> position 1 is
promoted, gets a pickup code and an "Avisos" entry with it, position 2 becomes 1; the cycle closes
-> the last one is cancelled, its stock released, its consumer told. Consolidation, the sales
figures and monitoring never count the waiting orders as sold. On the way, the new cycle's
`cycle.opened` reaches the producers and the full point's `point.nearly_full` its coordinator, and the
cancelled order she had paid becomes the first consumer's saldo a favor, shown on her orders page.
"""

import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services.common.money import format_bs, to_centavos
from tests.conftest import BACKENDS, require_postgres
from tests.reliability.conftest import live_platform
from tests.web.platform import Platform
from tests.web.test_pages import BrowserLike, log_in

pytestmark = pytest.mark.slow


def _eventually(check, what: str, seconds: float = 45.0):
    """Events travel through the relays: ask again until `check()` answers something true."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            assert found, f"never happened: {what}"
            return found
        time.sleep(0.3)


def _inbox(p: Platform, token: str, kind: str) -> list[dict]:
    items = p.request("GET", "/api/notifications?limit=50", token=token)["items"]
    return [i for i in items if i["kind"] == kind]


def _stock(p: Platform, product_id: int) -> tuple[Decimal, Decimal]:
    """(available, reserved): a reservation moves stock from the first to the second; consolidation
    commits what was sold (out of both), a release gives it back to the first."""
    found = p.request("GET", f"/api/catalog/products/{product_id}")
    return Decimal(found["available"]), Decimal(found["reserved"])


def _known_to_payments(p: Platform, token: str, order_id: int) -> bool:
    try:
        p.request("GET", f"/api/payments/orders/{order_id}/balance", token=token)
    except AssertionError:  # 404 until order.placed has reached payments
        return False
    return True


def bs_text(amount: str) -> str:
    """`Bs 45,00` as the pages print a decimal string of bolivianos."""
    return format_bs(to_centavos(Decimal(amount)))


def _program(p: Platform, token: str) -> dict:
    return p.request("GET", "/api/monitoring/report", token=token)["program"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_full_point_keeps_its_waitlist_promise_and_tells_everyone(backend, tmp_path):
    if backend == "postgres":
        require_postgres()
    with live_platform(backend, tmp_path, GATEWAY_NOTIFY_SEND_EVERY_SECONDS="1") as p:
        coordinator = p.login("coordinacion")
        producer = p.login("productor1")
        consumers = [p.login(f"consumidor{i}") for i in (1, 2, 3, 4)]
        demo = next(c for c in p.request("GET", "/api/orders/cycles?limit=50", token=coordinator)["items"]
                    if c["status"] == "open")
        point_id = demo["delivery_point_ids"][0]
        product = next(x for x in p.request("GET", "/api/catalog/products?limit=50")["items"]
                       if not x.get("case_size") and Decimal(x["available"]) >= 10)
        now = datetime.now(UTC)
        cycle = p.request("POST", "/api/orders/cycles", token=coordinator, body={
            "name": "Feria de prueba", "status": "open", "opens_at": (now - timedelta(hours=1)).isoformat(),
            "closes_at": (now + timedelta(days=1)).isoformat(), "delivery_date": demo["delivery_date"],
            "delivery_point_ids": [point_id], "point_capacity": {str(point_id): 2}})
        before = _program(p, coordinator)
        available, reserved = _stock(p, product["id"])

        orders = [p.request("POST", "/api/orders/orders", token=token, key=uuid.uuid4().hex, body={
            "cycle_id": cycle["id"], "delivery_point_id": point_id, "wait_if_full": True,
            "lines": [{"product_id": product["id"], "quantity": "1"}]}) for token in consumers]
        first, _, third, fourth = orders
        assert [o["status"] for o in orders] == ["placed", "placed", "waitlisted", "waitlisted"]
        assert (third["waitlist_position"], fourth["waitlist_position"]) == (1, 2)
        assert third["pickup_code"] is None and fourth["pickup_code"] is None
        assert _stock(p, product["id"]) == (available - 4, reserved + 4)  # the waiting orders hold theirs
        waiting = _eventually(lambda: _inbox(p, consumers[3], "order_waitlisted"), "the 4th is told her place")
        assert "puesto 2" in waiting[0]["text"]

        figures = _program(p, coordinator)
        assert figures["orders"] - before["orders"] == 2
        assert figures["waitlisted_orders"] - before["waitlisted_orders"] == 2
        doc = p.request("GET", f"/api/orders/cycles/{cycle['id']}/consolidation", token=coordinator)
        assert doc["totals"]["orders"] == 2 and doc["waitlisted"]["orders"] == 2

        # the first consumer paid before cancelling: what she paid becomes her saldo a favor
        _eventually(lambda: _known_to_payments(p, consumers[0], first["id"]), "payments learns of the order")
        p.request("POST", "/api/payments/payments", token=coordinator, key=uuid.uuid4().hex,
                  body={"order_id": first["id"], "amount": first["total"], "method": "cash"})

        # a placed order is cancelled: position 1 gets the slot and her code, position 2 moves up
        p.request("POST", f"/api/orders/orders/{first['id']}/cancel", token=consumers[0])
        promoted = _eventually(
            lambda: (o := p.request("GET", f"/api/orders/orders/{third['id']}", token=consumers[2]))["status"]
            == "placed" and o, "position 1 is promoted")
        assert len(promoted["pickup_code"]) == 8 and promoted["waitlist_position"] is None
        told = _eventually(lambda: _inbox(p, consumers[2], "order_promoted"), "the promoted consumer is told")
        assert promoted["pickup_code"] in told[0]["text"]
        assert _inbox(p, consumers[2], "order_placed") == []  # one message for her slot, not two
        last = p.request("GET", f"/api/orders/orders/{fourth['id']}", token=consumers[3])
        assert (last["status"], last["waitlist_position"]) == ("waitlisted", 1)
        assert _stock(p, product["id"]) == (available - 3, reserved + 3)

        # the cycle closes: the last waiting order is cancelled, its stock released, its consumer told
        p.request("POST", f"/api/orders/cycles/{cycle['id']}/close", token=coordinator)
        assert p.request("GET", f"/api/orders/orders/{fourth['id']}", token=consumers[3])["status"] == "cancelled"
        # the two placed orders are committed (sold), the waiting one's unit is back on sale
        _eventually(lambda: _stock(p, product["id"]) == (available - 2, reserved), "the waiting stock is released")
        cancelled = _eventually(lambda: _inbox(p, consumers[3], "order_cancelled"), "the last one is told")
        assert "el ciclo cerró" in cancelled[0]["text"] and "No se le cobra nada" in cancelled[0]["text"]

        doc = p.request("GET", f"/api/orders/cycles/{cycle['id']}/consolidation", token=coordinator)
        assert doc["totals"]["orders"] == 2 and doc["waitlisted"]["orders"] == 0
        figures = _program(p, coordinator)
        assert figures["orders"] - before["orders"] == 2
        assert figures["waitlisted_orders"] == before["waitlisted_orders"]

        # her credit is on her orders page, through the gateway
        ana = p.request("GET", "/api/auth/me", token=consumers[0])["id"]
        credit = _eventually(lambda: (c := p.request("GET", f"/api/payments/credit/{ana}", token=consumers[0]))
                             ["balance"] == first["total"] and c, "the paid, cancelled order becomes credit")
        assert [m["kind"] for m in credit["movements"]] == ["banked"]
        # ... and pays (part of) her next order, from that order's page
        again = p.request("POST", "/api/orders/orders", token=consumers[0], key=uuid.uuid4().hex, body={
            "cycle_id": demo["id"], "delivery_point_id": point_id,
            "lines": [{"product_id": product["id"], "quantity": "2"}]})
        _eventually(lambda: _known_to_payments(p, consumers[0], again["id"]), "payments learns of her next order")
        with BrowserLike(base_url=p.url, follow_redirects=False, timeout=30) as browser:
            assert log_in(browser, "consumidor1").status_code == 303
            listing = browser.get("/pedidos")
            assert listing.status_code == 200 and "Saldo a favor" in listing.text
            assert bs_text(first["total"]) in listing.text
            page = browser.get(f"/pedidos/{again['id']}")
            assert 'id="pay-with-credit"' in page.text
            key = re.search(r'name="idempotency_key" value="([^"]+)"', page.text).group(1)
            paid = browser.post(f"/pedidos/{again['id']}/saldo", data={"idempotency_key": key})
            assert paid.status_code == 303 and "error" not in paid.headers["location"]
        used = min(Decimal(first["total"]), Decimal(again["total"]))
        due = p.request("GET", f"/api/payments/orders/{again['id']}/balance", token=consumers[0])["due"]
        assert Decimal(due) == Decimal(again["total"]) - used
        left = p.request("GET", f"/api/payments/credit/{ana}", token=consumers[0])["balance"]
        assert Decimal(left) == Decimal(first["total"]) - used

        # the cycle's opening reached the producers, the full point its coordinator (once)
        opened = _eventually(lambda: _inbox(p, producer, "cycle_opened"), "producers hear the cycle opened")
        assert any("Feria de prueba" in n["text"] for n in opened)
        full = _eventually(lambda: _inbox(p, coordinator, "point_nearly_full"), "the coordinator hears it is full")
        assert len([n for n in full if "Feria de prueba" in n["text"]]) == 1
        assert "2 de 2 cupos" in full[0]["text"]
