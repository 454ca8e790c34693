"""Two uvicorn workers per process trade no guarantee. The platform runs as `make run` runs it with
`<SERVICE>_WORKERS=2` for the four services and the gateway, relays on (events over HTTP), on a
private PostgreSQL cluster, and everything goes through the gateway:

1. the race: 200 buyers at once for the last 50 units of a product, each asking again with the same
   Idempotency-Key when an answer is lost, as the app does: exactly 50 orders placed, the other 150
   refused with a 409 `stock_insufficient`, the stock never negative, no 500;
2. crash recovery: while consumers browse, order and cancel and the coordinator records what
   placed orders owe, one worker of orders (placing orders)
   and then one of payments (consuming their events) is killed with SIGKILL; uvicorn replaces it,
   and afterwards the consistency audit finds nothing (every placed order has one confirmed booking
   and one payment-side order, every event's effect applied exactly once, the ledger balances), the
   stock is conserved and no order is left pending.

Each worker's database pool is kept small (`<SERVICE>_DB_POOL_SIZE`/`_DB_MAX_OVERFLOW`): ten
workers with the default 15 + 5 connections each would need more than PostgreSQL allows by default.
What a killed worker left half done waits for a timeout, made short here so the recovery fits in the
test: the lease of a relay's or consumer's claim (`_RELAY_LEASE_SECONDS`) and, for the second part
only, the pending timeout of a placement (a placement slower than it, as in the race on a busy
machine, would be given up as abandoned).
"""

import asyncio
import os
import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from gateway.tokens import TokenIssuer
from services.common.db import make_engine
from services.orders.models import orders
from tests.conftest import IN_CI
from tests.reliability.conftest import role_tokens, settled_audit
from tests.reliability.load import Load, consumer_load, explain, outcome, read_stock, stock_discrepancies
from tests.reliability.servers import postgres_bin, private_postgres
from tests.web.platform import START_ORDER, restart, running_platform, worker_pids

WORKERS = 2
BUYERS, UNITS = 200, 50
CONSUMERS = 16  # enough requests in flight that a killed worker is cut in the middle of some
# the load runs by orders placed, not by time, so a busy machine only makes it longer: a worker is
# killed once this many more orders were placed, and the load ends after as many again
PLACED_BETWEEN = 4
KILLED = ("orders", "payments")  # the saga's driver, then a consumer of its events
PENDING_TIMEOUT_SECONDS = "3"


def settings() -> dict[str, str]:
    # every buyer comes from 127.0.0.1 here: the per-address limit would throttle them as one phone
    found = {"GATEWAY_RATE_LIMIT_PER_ADDRESS": "1000000"}
    for name in START_ORDER:
        prefix = name.upper()
        found.update({f"{prefix}_WORKERS": str(WORKERS), f"{prefix}_DB_POOL_SIZE": "4",
                      f"{prefix}_DB_MAX_OVERFLOW": "4", f"{prefix}_RELAY_LEASE_SECONDS": "3"})
    return found


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    if postgres_bin() is None:
        (pytest.fail if IN_CI else pytest.skip)("needs PostgreSQL server binaries (initdb, pg_ctl)")
    began = time.monotonic()
    with private_postgres() as pg:
        urls = pg.urls("workers", START_ORDER)
        with running_platform(tmp_path_factory.mktemp("two-workers"), urls, **settings()) as platform:
            print(f"\nplatform up with {WORKERS} workers per process in {time.monotonic() - began:.1f} s")
            assert {name: len(worker_pids(platform, name)) for name in START_ORDER} == dict.fromkeys(START_ORDER, WORKERS)
            yield platform, urls, role_tokens(platform)


def consumer_tokens(platform, count: int, *, first_account: int) -> list[str]:
    """Access tokens of `count` consumers, signed with the gateway's key (no account to create)."""
    issuer = TokenIssuer.from_file(platform.env["MC_JWT_PRIVATE_KEY_PATH"])
    return [issuer.access_token(account_id=first_account + n, role="consumer", name=f"Consumidora {n}", ttl=600)
            for n in range(count)]


def open_cycle(load: Load, tokens: dict[str, str]) -> dict:
    return next(c for c in load.call("GET", "/api/orders/cycles?limit=50", token=tokens["coordinator"])[1]["items"]
                if c["status"] == "open")


def orderable(load: Load, query: str = "") -> list[dict]:
    """Products bought by the unit (no case, a minimum of at most one)."""
    return [p for p in load.call("GET", f"/api/catalog/products?limit=50{query}")[1]["items"]
            if not p.get("case_size") and Decimal(p["min_order_quantity"]) <= 1]


@pytest.mark.slow
def test_two_hundred_buyers_for_fifty_units_place_exactly_fifty_orders(live):
    platform, urls, tokens = live
    load = Load(platform)
    template = open_cycle(load, tokens)
    point = template["delivery_point_ids"][0]
    status, cycle = load.call("POST", "/api/orders/cycles", token=tokens["coordinator"], body={
        "name": "Ciclo de la carrera", "opens_at": template["opens_at"], "closes_at": template["closes_at"],
        "delivery_date": template["delivery_date"], "delivery_point_ids": [point],
        "point_capacity": {str(point): BUYERS}, "status": "open"})
    assert status == 201, cycle
    product = orderable(load, "&producer=1")[0]  # the demo's producer account is producer 1's
    status, _ = load.call("PATCH", f"/api/catalog/products/{product['id']}", token=tokens["producer"],
                          body={"available": str(UNITS)})
    assert status == 200
    _, reserved_before, sold_before = asyncio.run(read_stock(urls["catalog"]))[product["id"]]
    buyers = consumer_tokens(platform, BUYERS, first_account=50_000)
    start, latencies = threading.Barrier(BUYERS), []

    def buy(token: str) -> tuple:
        start.wait()
        began = time.monotonic()
        try:
            return load.retried("POST", "/api/orders/orders", token=token, body={
                "cycle_id": cycle["id"], "delivery_point_id": point,
                "lines": [{"product_id": product["id"], "quantity": "1"}]})
        finally:
            latencies.append(time.monotonic() - began)

    with ThreadPoolExecutor(BUYERS) as pool:
        answers = list(pool.map(buy, buyers))
    outcomes = Counter(outcome(status, answer, "placed") for status, answer in answers)
    available, reserved, sold = asyncio.run(read_stock(urls["catalog"]))[product["id"]]
    print(f"{BUYERS} buyers for {UNITS} units: {dict(outcomes)}, asked again {dict(load.counts)}, slowest "
          f"{max(latencies):.1f} s; then available {available}, reserved +{reserved - reserved_before}")
    assert load.server_errors == [], load.server_errors[:5]
    assert outcomes == {"placed": UNITS, "409_stock_insufficient": BUYERS - UNITS}, outcomes
    assert all(answer["error"]["message"] for status, answer in answers if status == 409)
    assert (available, reserved - reserved_before, sold - sold_before) == (0, UNITS, 0)


async def pending_orders(url: str) -> int:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return (await conn.execute(select(func.count()).where(orders.c.status == "pending"))).scalar_one()
    finally:
        await engine.dispose()


def kill_a_worker(platform, name: str) -> float:
    """SIGKILL one of `name`'s workers (not the uvicorn parent); seconds until uvicorn has replaced it."""
    victim = worker_pids(platform, name)[0]
    os.kill(victim, signal.SIGKILL)
    killed_at = time.monotonic()
    while True:
        now = worker_pids(platform, name)
        if len(now) == WORKERS and victim not in now:
            return time.monotonic() - killed_at
        assert time.monotonic() - killed_at < 60, f"{name}: worker {victim} not replaced: {now}"
        time.sleep(0.1)


def payer_load(load: Load, coordinator: str, cycle: dict) -> None:
    """The coordinator records in cash what placed orders owe (ledger entries, through payments)."""
    paid: set[int] = set()
    while not load.stop.is_set():
        status, placed = load.call("GET", f"/api/orders/orders?cycle_id={cycle['id']}&status=placed&limit=20",
                                   token=coordinator)
        for order in (placed or {}).get("items", []) if status == 200 else []:
            if order["id"] in paid:
                continue
            status, balance = load.call("GET", f"/api/payments/orders/{order['id']}/balance", token=coordinator)
            if status != 200 or Decimal(balance["due"]) <= 0:
                continue
            status, answer = load.retried("POST", "/api/payments/payments", token=coordinator, seconds=10, body={
                "order_id": order["id"], "amount": balance["due"], "method": "cash", "client_id": f"pago-{order['id']}"})
            load.count("paid" if status == 201 else "payment_" + outcome(status, answer, ""))
            paid.add(order["id"])
        time.sleep(0.2)


@pytest.mark.slow
def test_a_worker_killed_mid_load_leaves_every_invariant_whole(live):
    platform, urls, tokens = live
    restart(platform, "orders", ORDERS_PENDING_TIMEOUT_SECONDS=PENDING_TIMEOUT_SECONDS)
    load = Load(platform)
    cycle = open_cycle(load, tokens)
    bought = [p for p in orderable(load) if Decimal(p["available"]) >= 1]
    consumers = consumer_tokens(platform, CONSUMERS, first_account=60_000)
    before = asyncio.run(read_stock(urls["catalog"]))
    threads = [threading.Thread(target=consumer_load, args=(load, token, cycle, bought, n))
               for n, token in enumerate(consumers)]
    threads.append(threading.Thread(target=payer_load, args=(load, tokens["coordinator"], cycle)))
    for thread in threads:
        thread.start()
    replaced = {}
    try:
        for name in (*KILLED, None):
            placed = load.counts["placed"] + PLACED_BETWEEN
            load.until(lambda placed=placed: load.counts["placed"] >= placed, seconds=90)
            if name:
                replaced[name] = kill_a_worker(platform, name)
    finally:
        load.end()
        for thread in threads:
            thread.join(timeout=60)
    settle_began = time.monotonic()
    # a placement cut short by the kill stays pending until the recovery duty settles it
    while (pending := asyncio.run(pending_orders(urls["orders"]))) and time.monotonic() < settle_began + 30:
        time.sleep(0.5)
    report = settled_audit(platform, tokens["admin"], seconds=60)
    settled = time.monotonic() - settle_began
    after = asyncio.run(read_stock(urls["catalog"]))
    if report["discrepancies"]:
        print("\n".join(asyncio.run(explain(urls, report["discrepancies"]))))
    stock_wrong = stock_discrepancies(before, after, Counter())
    print(f"workers killed, replaced by uvicorn after (s): { {n: round(s, 1) for n, s in replaced.items()} }")
    cut = sum(n for what, n in load.counts.items() if what.startswith(("retried_after_503", "retried_after_no_answer")))
    print(f"load: {dict(sorted(load.counts.items()))}; answers cut by the kills: {cut}")
    print(f"audit after {settled:.1f} s: {report['checked']} discrepancies={report['by_check']}; pending {pending}")
    assert load.counts["placed"] > 0 and load.counts["paid"] > 0, load.counts
    assert load.server_errors == [], load.server_errors[:10]
    assert stock_wrong == [], stock_wrong
    assert report["discrepancies"] == [], report["discrepancies"][:20]
    assert pending == 0
