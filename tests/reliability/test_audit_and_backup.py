"""The consistency audit and backups on a live installation (one platform per database engine):

- a fresh demo, then real orders placed and cancelled, report nothing;
- a backup taken while the platform serves (`make backup`), restored into fresh databases
  (`make restore`), gives back the same installation, and the audit finds nothing there either;
- one corrupted row (a stock counter, a journal entry, an inbox row lost) is reported, and only it,
  by the API and by `make audit`, which then exits 1.
"""

import asyncio
import subprocess
import sys

import pytest
from sqlalchemy import delete, insert, select, update

from services.catalog.models import Product
from services.common.db import make_engine
from services.payments.models import kernel as payments_kernel
from services.payments.models import postings
from tests.conftest import BACKENDS, require_postgres
from tests.reliability.conftest import (
    audit,
    fresh_databases,
    live_platform,
    place_and_cancel_orders,
    role_tokens,
    settled_audit,
)
from tests.web.platform import ROOT


def command(module: str, *args, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *map(str, args)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


async def _corrupt(platform) -> dict:
    """Add one unit to a product's `reserved`, a stray centavo to a journal entry, and lose the inbox row
    of the last event payments applied (as if its effect had never happened); say which rows."""
    catalog = make_engine(platform.env["CATALOG_DATABASE_URL"])
    payments = make_engine(platform.env["PAYMENTS_DATABASE_URL"])
    try:
        async with catalog.begin() as conn:
            product_id = (await conn.execute(select(Product.id).order_by(Product.id.desc()).limit(1))).scalar_one()
            await conn.execute(update(Product).where(Product.id == product_id).values(reserved=Product.reserved + 1))
        async with payments.begin() as conn:
            # the ledger is append-only (a trigger refuses updates): the corruption is a stray posting
            posting = (await conn.execute(select(postings).order_by(postings.c.id).limit(1))).one()
            await conn.execute(insert(postings).values(entry_id=posting.entry_id, account_id=posting.account_id,
                                                       amount=1))
            inbox = payments_kernel.inbox
            event_id = (await conn.execute(select(inbox.c.event_id).order_by(inbox.c.handled_at.desc())
                                           .limit(1))).scalar_one()
            await conn.execute(delete(inbox).where(inbox.c.event_id == event_id))
    finally:
        await catalog.dispose()
        await payments.dispose()
    return {"product_id": product_id, "entry_id": posting.entry_id, "account_id": posting.account_id,
            "event_id": event_id}


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_audit_finds_nothing_on_a_sound_or_restored_installation_and_exactly_a_corrupted_row(backend, tmp_path):
    if backend == "postgres":
        require_postgres()
    backup = tmp_path / "backup"
    with live_platform(backend, tmp_path / "original") as original:
        tokens = role_tokens(original)
        with pytest.raises(AssertionError, match="403"):
            audit(original, tokens["coordinator"])
        # the demo's due cycle closed at start-up: its cycle.closed waits for the processes started
        # after orders (the relay backs off meanwhile), so the audit is read once events have travelled
        fresh = settled_audit(original, tokens["admin"])
        assert fresh["discrepancies"] == [] and fresh["ok"]

        placed = place_and_cancel_orders(original, tokens)
        busy = settled_audit(original, tokens["admin"])
        assert busy["discrepancies"] == [], busy["discrepancies"]
        assert (busy["checked"]["placed_orders"], busy["checked"]["ended_orders"]) == (2, 1)
        assert busy["checked"]["events_applied"] > 0
        taken = command("infra.backup", "backup", backup, env=original.env)
        assert taken.returncode == 0, taken.stdout + taken.stderr
        orders_before = original.request("GET", "/api/orders/orders?limit=50", token=tokens["consumer"])["items"]

        corrupted = asyncio.run(_corrupt(original))
        report = audit(original, tokens["admin"])
        found = sorted((d["check"], d["service"], tuple(sorted(d["ids"].items()))) for d in report["discrepancies"])
        assert found == sorted([
            ("stock_conservation", "catalog", (("counter", "reserved"), ("product_id", corrupted["product_id"]))),
            ("ledger_balances", "payments", (("entry_id", corrupted["entry_id"]),)),
            ("ledger_balances", "payments", (("account_id", corrupted["account_id"]),)),
            ("event_applied_once", "payments", (("event_id", corrupted["event_id"]), ("source", "orders"),
                                                ("subscriber", "payments"))),
        ])
        cli = command("gateway.audit", env=original.env)
        assert cli.returncode == 1, cli.stderr
        assert f"product {corrupted['product_id']}: reserved is" in cli.stdout

    with fresh_databases(backend, tmp_path / "restored", prefix="mc_restored") as urls:
        env = {**original.env, **{f"{name.upper()}_DATABASE_URL": url for name, url in urls.items()}}
        restored_from = command("infra.backup", "restore", backup, env=env)
        assert restored_from.returncode == 0, restored_from.stdout + restored_from.stderr
        with live_platform(backend, tmp_path / "restored", database_urls=urls, with_demo=False) as restored:
            after = audit(restored, restored.login("admin"))
            assert after["discrepancies"] == [] and after["checked"] == busy["checked"]
            orders_after = restored.request("GET", "/api/orders/orders?limit=50",
                                             token=restored.login("consumidor1"))["items"]
            assert orders_after == orders_before and {o["id"] for o in orders_after} >= set(placed)
