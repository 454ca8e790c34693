"""What the tests that run the platform as processes under load share: a load of calls through the
gateway with their outcomes counted (no 500 goes unnoticed), consumers browsing, ordering and
cancelling, the stock counters read from the catalog's database and checked for conservation, and,
for a failed run, each order a discrepancy names as every database sees it."""

import json
import random
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from decimal import Decimal

from sqlalchemy import select, text

from services.catalog.models import Product
from services.common.db import make_engine
from tests.web.platform import api_request

STEP_SECONDS = 60  # how long one step (a call retried across restarts) keeps trying
GRACE_SECONDS = 20  # after the load, how long a step under way may go on
# the 409 that means "the same request is still running" (the kernel's middleware and order placement
# both answer it): asked again with the same key, not an answer
STILL_RUNNING = ("idempotency_in_progress",)


def error_code(answer) -> str | None:
    return answer.get("error", {}).get("code") if isinstance(answer, dict) else None


def outcome(status, answer, ok: str) -> str:
    """What a call's answer counts as: `ok`, or its status and error code."""
    if status in (200, 201):
        return ok
    return f"{status or 'no_answer'}_{error_code(answer) or ''}".rstrip("_")


class Load:
    """Calls to the gateway with their outcomes counted (thread-safe)."""

    def __init__(self, platform):
        self.platform = platform
        self.counts: Counter = Counter()
        self.server_errors: list[str] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.stopped_at = 0.0

    def end(self) -> None:
        self.stopped_at = time.monotonic()
        self.stop.set()

    def count(self, what: str, n: int = 1) -> None:
        with self.lock:
            self.counts[what] += n

    def call(self, method: str, path: str, *, token: str | None = None, body=None, key: str | None = None):
        """(status, JSON) of one request; (None, None) when the connection fails."""
        request = api_request(self.platform.url + path, method, token=token, body=body, key=key)
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            if exc.code == 500:
                with self.lock:
                    self.server_errors.append(f"{method} {path}: {raw[:300]!r}")
            try:
                return exc.code, json.loads(raw or b"null")
            except ValueError:
                return exc.code, None
        except (OSError, ValueError):
            return None, None

    def retried(self, method: str, path: str, *, token: str, body=None, idempotent: bool = True,
                seconds: float = STEP_SECONDS):
        """Call until a definite answer (2xx, or a 4xx other than "the same request is still running"),
        with the same Idempotency-Key every time, so a lost answer never does a thing twice. Gives up
        at the deadline, or soon after the load ends."""
        key = uuid.uuid4().hex if idempotent and method != "GET" else None
        deadline = time.monotonic() + seconds
        while True:
            status, answer = self.call(method, path, token=token, body=body, key=key)
            definite = status is not None and status < 500 and status != 429 and not (
                status == 409 and error_code(answer) in STILL_RUNNING)
            if definite or time.monotonic() > deadline or self.stopped_a_while():
                return status, answer
            self.count("retried_after_" + outcome(status, answer, ""))
            time.sleep(0.5)

    def stopped_a_while(self) -> bool:
        """The load ended a while ago: steps in flight give up (a supply round under way may finish)."""
        return self.stop.is_set() and time.monotonic() > self.stopped_at + GRACE_SECONDS

    def until(self, probe, seconds: float = STEP_SECONDS):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.stopped_a_while():
            found = probe()
            if found:
                return found
            time.sleep(0.5)
        return None


def consumer_load(load: Load, token: str, cycle: dict, products: list[dict], seed: int) -> None:
    rng = random.Random(seed)
    while not load.stop.is_set():
        status, _ = load.call("GET", "/api/catalog/products?limit=20")
        load.count("browsed" if status == 200 else f"browse_{status or 'no_answer'}")
        if rng.random() < 0.7:
            status, order = load.retried("POST", "/api/orders/orders", token=token, seconds=10, body={
                "cycle_id": cycle["id"], "delivery_point_id": rng.choice(cycle["delivery_point_ids"]),
                "lines": [{"product_id": rng.choice(products)["id"], "quantity": "1"}]})
            load.count("placed" if status == 201 else "order_" + outcome(status, order, ""))
            if status == 201 and rng.random() < 0.3:
                cancelled, answer = load.retried("POST", f"/api/orders/orders/{order['id']}/cancel", token=token,
                                                 idempotent=False, seconds=10)
                load.count("cancelled" if cancelled == 200 else "cancel_" + outcome(cancelled, answer, ""))


async def read_stock(url: str) -> dict[int, tuple[Decimal, Decimal, Decimal]]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(Product.id, Product.available, Product.reserved, Product.sold))).all()
    finally:
        await engine.dispose()
    return {r.id: (Decimal(str(r.available)), Decimal(str(r.reserved)), Decimal(str(r.sold))) for r in rows}


def stock_discrepancies(before: dict, after: dict, restocks: Counter) -> list[str]:
    found = []
    for product_id, (available, reserved, sold) in sorted(after.items()):
        initial = sum(before.get(product_id, (Decimal(0),) * 3))
        if initial + restocks[product_id] != available + reserved + sold:
            found.append(f"product {product_id}: {initial} + {restocks[product_id]} restocked != "
                         f"{available} available + {reserved} reserved + {sold} sold")
        if min(available, reserved, sold) < 0:
            found.append(f"product {product_id}: a negative counter")
    return found


async def explain(urls: dict[str, str], discrepancies: list[dict]) -> list[str]:
    """For a failed run: each order named by a discrepancy, as every database sees it (its row, its
    events in each outbox, inbox and incoming queue), before the private cluster is thrown away."""
    order_ids = sorted({d["ids"]["order_id"] for d in discrepancies if "order_id" in d["ids"]})[:5]
    lines = []
    for name, url in urls.items():
        engine = make_engine(url)
        try:
            async with engine.connect() as conn:
                for order_id in order_ids:
                    for table, where in (("orders", "id" if name == "orders" else "order_id"), ("bookings", "order_id")):
                        if name in ({"orders": ("orders", "payments"), "bookings": ("delivery",)}[table]):
                            row = (await conn.execute(text(f"SELECT * FROM {table} WHERE CAST({where} AS TEXT) = :id"),
                                                      {"id": str(order_id)})).mappings().first()
                            lines.append(f"{name}.{table} {order_id}: {dict(row) if row else None}")
                    for table, when in (("outbox", "published_at"), ("inbox", "handled_at"),
                                        ("incoming_events", "parked_at")):
                        rows = (await conn.execute(text(
                            f"SELECT event_id, event_type, {when} FROM {table} WHERE aggregate_id = :id"),
                            {"id": str(order_id)})).all()
                        lines += [f"{name}.{table} {order_id}: {tuple(r)}" for r in rows]
        finally:
            await engine.dispose()
    return lines
