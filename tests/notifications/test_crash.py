"""kill -9 of the sending process mid-batch: nothing is ever sent twice, and the rest goes out after."""

import asyncio
import os
import signal
import sys
from collections import Counter
from pathlib import Path

from aiohttp import web
from sqlalchemy import select

from gateway.models import Account
from gateway.notifications.channels import Channels
from gateway.notifications.models import NotificationDelivery
from gateway.notifications.record import Outgoing, record
from gateway.notifications.sender import Sender
from tests.conftest import live_database
from tests.notifications.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
PHONES = [f"+5917000000{i}" for i in range(6)]
HANG_ON = 3  # the provider holds the third message: the sender is killed while waiting for the answer


async def _queue_messages(db) -> None:
    async with db.session() as session:
        for phone in PHONES:
            account = Account(phone=phone, password_hash="-", name="Vecina", role="consumer")
            session.add(account)
            await session.flush()
            await record(session=session, event_id=f"crash-{phone}", channels_configured=frozenset({"whatsapp"}),
                         message=Outgoing(account, "order_cancelled", f"Pedido de {phone} cancelado."))
    async with db.session() as session:  # quiet hours would hold them at night: due now
        await session.execute(NotificationDelivery.__table__.update().values(
            next_attempt_at=NotificationDelivery.__table__.c.created_at))


async def test_a_sender_killed_mid_batch_sends_nothing_twice(backend, migrated):
    url = migrated.url("gateway", backend)
    received: list[str] = []
    held = asyncio.Event()
    release = asyncio.Event()

    async def provider(request: web.Request) -> web.Response:
        received.append((await request.json())["to"])
        if len(received) == HANG_ON:
            held.set()
            await release.wait()  # the caller is killed meanwhile
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/wa", provider)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    whatsapp = f"json://127.0.0.1:{port}/wa?:to={{phone}}"
    try:
        async with live_database(url, "gateway") as db:
            await _queue_messages(db)
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.notifications.crash_sender", url, whatsapp, cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=asyncio.subprocess.PIPE)
            try:
                await asyncio.wait_for(held.wait(), timeout=60)  # a guard against a hang, not a measurement
                proc.send_signal(signal.SIGKILL)
                assert await proc.wait() == -signal.SIGKILL
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
            release.set()
            assert len(received) == HANG_ON

            # a new sender: the interrupted call is not repeated, everything else goes out once
            after = Sender(db, Channels({"whatsapp": whatsapp}), lease_seconds=0)
            result = await after.send_due()
            again = await after.send_due()

            assert (result.interrupted, result.sent, again.sent) == (1, len(PHONES) - HANG_ON, 0)
            assert Counter(received) == Counter(PHONES)  # each phone exactly once
            async with db.session() as session:
                statuses = dict((await session.execute(select(NotificationDelivery.address,
                                                              NotificationDelivery.status))).all())
            assert statuses.pop(received[HANG_ON - 1]) == "interrupted"
            assert set(statuses.values()) == {"sent"}
    finally:
        release.set()
        await runner.cleanup()
