"""Chaos under load, short form: consumers browse, order and cancel through the gateway while every
process of the platform is killed with SIGKILL in turn and started again; afterwards, with the
outboxes drained and the recovery window passed, the consistency audit finds nothing (stock and
slots conserved, every placed order booked and known to payments, failed and cancelled orders
holding nothing, the ledger balanced, nothing left pending).

It prints what it killed and the counts. `MC_CHAOS_SECONDS` makes the long form (default: 30 s of
load; e.g. `MC_CHAOS_SECONDS=600 .venv/bin/python -m pytest tests/reliability/test_chaos.py -s`).
"""

import json
import os
import random
import signal
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from decimal import Decimal

import pytest

from tests.reliability.conftest import live_platform, role_tokens, settled_audit
from tests.web.platform import START_ORDER, spawn, wait_healthy

LOAD_SECONDS = float(os.environ.get("MC_CHAOS_SECONDS", "30"))
CONSUMERS = 4


def call(platform, method: str, path: str, *, token: str | None = None, body=None, key: str | None = None):
    """(status, JSON) of one request to the gateway; (None, None) when the connection fails."""
    request = urllib.request.Request(platform.url + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if key:
        request.add_header("Idempotency-Key", key)
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (OSError, ValueError):
        return None, None


def consumer_load(platform, token: str, cycle: dict, products: list[dict], stop: threading.Event,
                  counts: Counter, lock: threading.Lock, seed: int) -> None:
    rng = random.Random(seed)
    while not stop.is_set():
        status, _ = call(platform, "GET", "/api/catalog/products?limit=20")
        outcome = ["browse_failed", "browsed"][status == 200]
        if rng.random() < 0.7:
            key, body = uuid.uuid4().hex, {
                "cycle_id": cycle["id"], "delivery_point_id": rng.choice(cycle["delivery_point_ids"][:3]),
                "lines": [{"product_id": rng.choice(products)["id"], "quantity": "1"}]}
            for _ in range(5):  # a lost answer is retried with the same key: never two orders
                status, order = call(platform, "POST", "/api/orders/orders", token=token, body=body, key=key)
                if status is not None and status < 500 and status != 409:
                    break
                time.sleep(0.5)
            outcome = "placed" if status == 201 else f"order_{status or 'no_answer'}"
            if status == 201 and rng.random() < 0.3:
                cancelled, _ = call(platform, "POST", f"/api/orders/orders/{order['id']}/cancel", token=token)
                with lock:
                    counts["cancelled" if cancelled == 200 else f"cancel_{cancelled or 'no_answer'}"] += 1
        with lock:
            counts[outcome] += 1


@pytest.mark.slow
def test_every_invariant_holds_after_each_process_is_killed_under_load(tmp_path):
    with live_platform("sqlite", tmp_path, ORDERS_PENDING_TIMEOUT_SECONDS="3") as platform:
        tokens = role_tokens(platform)
        consumers = [tokens["consumer"], *(platform.login(f"consumidor{n}") for n in range(2, CONSUMERS + 1))]
        cycle = next(c for c in call(platform, "GET", "/api/orders/cycles?limit=50",
                                     token=tokens["coordinator"])[1]["items"] if c["status"] == "open")
        products = [p for p in call(platform, "GET", "/api/catalog/products?limit=50")[1]["items"]
                    if not p.get("case_size") and Decimal(p["available"]) >= 1]
        stop, lock, counts = threading.Event(), threading.Lock(), Counter()
        workers = [threading.Thread(target=consumer_load, args=(platform, token, cycle, products, stop, counts, lock, n))
                   for n, token in enumerate(consumers)]
        for worker in workers:
            worker.start()
        killed = []
        try:
            pause = LOAD_SECONDS / (len(START_ORDER) + 1)
            for name in START_ORDER:
                time.sleep(pause)
                process = platform.processes[name]
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
                down_at = time.monotonic()
                spawn(platform, name)
                wait_healthy(platform, [name])
                killed.append((name, process.pid, round(time.monotonic() - down_at, 1)))
            time.sleep(pause)
        finally:
            stop.set()
            for worker in workers:
                worker.join(timeout=60)
        report = settled_audit(platform, tokens["admin"], seconds=60)
        for name, pid, back_after in killed:
            print(f"killed {name} (pid {pid}) with SIGKILL; healthy again after {back_after} s")
        print(f"load: {dict(sorted(counts.items()))}")
        print(f"audit: {report['checked']} discrepancies={report['by_check']}")
    assert [name for name, _, _ in killed] == list(START_ORDER)
    assert counts["placed"] > 0
    assert report["discrepancies"] == [], report["discrepancies"]
