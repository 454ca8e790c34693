"""The consistency audit on a live installation: a fresh demo, then real orders placed and cancelled,
report nothing; one corrupted row (a stock counter, a ledger posting) is reported, and only it."""

import asyncio
import subprocess
import sys

import pytest
from sqlalchemy import insert, select, update

from services.catalog.models import Product
from services.common.db import make_engine
from services.payments.models import postings
from tests.conftest import BACKENDS, require_postgres
from tests.reliability.conftest import (
    audit,
    live_platform,
    place_and_cancel_orders,
    role_tokens,
    settled_audit,
)
from tests.web.platform import ROOT


async def _corrupt(platform) -> dict:
    """Add one unit to a product's `reserved` and a stray centavo to a journal entry; say which rows."""
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
    finally:
        await catalog.dispose()
        await payments.dispose()
    return {"product_id": product_id, "entry_id": posting.entry_id, "account_id": posting.account_id}


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_the_audit_finds_nothing_on_a_sound_installation_and_exactly_the_corrupted_rows(backend, tmp_path):
    if backend == "postgres":
        require_postgres()
    with live_platform(backend, tmp_path) as platform:
        tokens = role_tokens(platform)
        with pytest.raises(AssertionError, match="403"):
            audit(platform, tokens["coordinator"])
        fresh = audit(platform, tokens["admin"])
        assert fresh["discrepancies"] == [] and fresh["ok"]

        place_and_cancel_orders(platform, tokens)
        busy = settled_audit(platform, tokens["admin"])
        assert busy["discrepancies"] == [], busy["discrepancies"]
        assert (busy["checked"]["placed_orders"], busy["checked"]["ended_orders"]) == (2, 1)

        corrupted = asyncio.run(_corrupt(platform))
        report = audit(platform, tokens["admin"])
        found = sorted((d["check"], d["service"], tuple(sorted(d["ids"].items()))) for d in report["discrepancies"])
        assert found == sorted([
            ("stock_conservation", "catalog", (("counter", "reserved"), ("product_id", corrupted["product_id"]))),
            ("ledger_balances", "payments", (("entry_id", corrupted["entry_id"]),)),
            ("ledger_balances", "payments", (("account_id", corrupted["account_id"]),)),
        ])

        cli = subprocess.run([sys.executable, "-m", "gateway.audit"], env=platform.env, cwd=ROOT,
                             capture_output=True, text=True, timeout=120)
        assert cli.returncode == 1, cli.stderr
        assert f"product {corrupted['product_id']}: reserved is" in cli.stdout
