"""A process killed (SIGKILL) after its commit and before the publish: the event is still delivered."""

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from services.orders.models import kernel as orders_kernel
from services.payments.models import kernel as payments_kernel
from tests.conftest import app_client
from tests.events.harness import (
    eventually,
    handled,
    live_kernel_database,
    pending,
    publisher_app,
    serving,
    subscriber_app,
)

ROOT = Path(__file__).resolve().parents[2]


def run_and_kill(url: str, mode: str) -> str:
    """Start the writer, wait for its commit, SIGKILL it; return the id of the event it emitted."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "tests.events.crash_writer", url, mode], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        if not line.startswith("ready "):
            proc.kill()
            raise AssertionError(f"writer failed: {line!r} {proc.stderr.read()}")
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return line.split()[1]


@pytest.mark.parametrize("mode", ["commit", "claim"])
async def test_event_committed_by_a_killed_process_is_delivered_after_restart(mode, backend, migrated, keys):
    pub_url, sub_url = migrated.url("orders", backend), migrated.url("payments", backend)
    async with live_kernel_database(pub_url, orders_kernel) as pub_db, \
            live_kernel_database(sub_url, payments_kernel) as sub_db:
        event_id = await asyncio.to_thread(run_and_kill, pub_url, mode)
        # The change and its event were committed together, and nothing was published.
        [row] = await pending(pub_db)
        assert row.event_id == event_id and row.published_at is None
        async with pub_db.session() as session:
            change = (await session.execute(select(func.count()).select_from(orders_kernel.idempotency)
                                            .where(orders_kernel.idempotency.c.key == event_id))).scalar_one()
        assert change == 1

        # Restart: a new process (here, a new app) with its relay running on the same database.
        async with serving(subscriber_app(sub_db, sub_url, keys)) as sub:
            restarted = publisher_app(pub_db, pub_url, keys, subscriber_url=sub.url, relay_enabled=True)
            async with app_client(restarted):
                seen = await eventually(lambda: _handled_once(sub_db))
                # the relay marks the event published just after the subscriber's answer
                assert await eventually(lambda: _nothing_pending(pub_db))
        assert seen == [("crash-1", 1, event_id)]
        assert await pending(pub_db) == []


async def _nothing_pending(db):
    return (await pending(db)) == [] or None


async def _handled_once(db):
    seen = await handled(db)
    return seen or None
