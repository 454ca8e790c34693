"""The whole platform as real processes on SQLite or PostgreSQL, with a token for every role."""

import contextlib
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

from tests.web.platform import START_ORDER, Platform, postgres_databases, running_platform

# who logs in for each role (demo accounts, see gateway/demo.py)
DEMO_LOGINS = {"admin": "admin", "coordinator": "coordinacion", "producer": "productor1",
               "consumer": "consumidor1", "financier": "financiera", "municipality": "municipio.lapaz",
               "organization": "organizacion1"}


@contextlib.contextmanager
def fresh_databases(backend: str, folder: Path, prefix: str = "mc_live") -> Iterator[dict[str, str]]:
    """Empty databases of `backend` for every process of the platform: {name: URL}."""
    if backend == "postgres":
        with postgres_databases(prefix) as urls:
            yield urls
    else:
        (folder / "databases").mkdir(parents=True, exist_ok=True)
        yield {name: f"sqlite+aiosqlite:///{folder / 'databases' / (name + '.db')}" for name in START_ORDER}


@contextlib.contextmanager
def live_platform(backend: str, folder: Path, *, with_demo: bool = True, database_urls=None,
                  **settings: str) -> Iterator[Platform]:
    """The platform with the demo loaded, on fresh databases of `backend` (or on `database_urls`)."""
    with contextlib.ExitStack() as stack:
        urls = database_urls or stack.enter_context(fresh_databases(backend, folder))
        yield stack.enter_context(running_platform(folder, urls, demo=with_demo, **settings))


def role_tokens(platform: Platform) -> dict[str, str]:
    return {role: platform.login(who) for role, who in DEMO_LOGINS.items()}


def audit(platform, token: str) -> dict:
    return platform.request("GET", "/api/admin/audit", token=token)


def settled_audit(platform, token: str, seconds: float = 60) -> dict:
    """Events travel through the outboxes: audit until the answer is clean or the time is up."""
    deadline = time.monotonic() + seconds
    while True:
        report = audit(platform, token)
        if report["ok"] or time.monotonic() > deadline:
            return report
        time.sleep(0.5)


def place_and_cancel_orders(platform, tokens: dict[str, str]) -> list[int]:
    cycle = next(c for c in platform.request("GET", "/api/orders/cycles?limit=50", token=tokens["coordinator"])["items"]
                 if c["status"] == "open")
    products = [p for p in platform.request("GET", "/api/catalog/products?limit=50")["items"]
                if not p.get("case_size") and Decimal(p["available"]) >= 2][:3]
    ids = []
    for n, product in enumerate(products):
        order = platform.request("POST", "/api/orders/orders", token=tokens["consumer"], key=uuid.uuid4().hex, body={
            "cycle_id": cycle["id"], "delivery_point_id": cycle["delivery_point_ids"][n % 2],
            "lines": [{"product_id": product["id"], "quantity": "1"}]})
        ids.append(order["id"])
    platform.request("POST", f"/api/orders/orders/{ids[0]}/cancel", token=tokens["consumer"])
    return ids
