"""`make backup` and `make restore`: a running installation's databases, backed up while it serves and
restored into fresh databases, give back the same installation, and the audit finds nothing."""

import subprocess
import sys

import pytest

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


def backup_command(action: str, folder, env: dict[str, str]) -> None:
    done = subprocess.run([sys.executable, "-m", "infra.backup", action, str(folder)], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_backup_restored_into_fresh_databases_is_the_same_sound_installation(backend, tmp_path):
    if backend == "postgres":
        require_postgres()
    backup = tmp_path / "backup"
    with live_platform(backend, tmp_path / "original") as original:
        tokens = role_tokens(original)
        placed = place_and_cancel_orders(original, tokens)
        before = settled_audit(original, tokens["admin"])
        assert before["ok"], before["discrepancies"]
        backup_command("backup", backup, original.env)
        orders_before = original.request("GET", "/api/orders/orders?limit=50", token=tokens["consumer"])["items"]

    with fresh_databases(backend, tmp_path / "restored", prefix="mc_restored") as urls:
        env = {**original.env, **{f"{name.upper()}_DATABASE_URL": url for name, url in urls.items()}}
        backup_command("restore", backup, env)
        with live_platform(backend, tmp_path / "restored", database_urls=urls, with_demo=False) as restored:
            admin = restored.login("admin")
            after = audit(restored, admin)
            assert after["discrepancies"] == [] and after["checked"] == before["checked"]
            consumer = restored.login("consumidor1")
            orders_after = restored.request("GET", "/api/orders/orders?limit=50", token=consumer)["items"]
            assert orders_after == orders_before and {o["id"] for o in orders_after} >= set(placed)
