"""A process that commits a change with its event and then hangs until it is killed.

`python -m tests.events.crash_writer <database url> <mode>`
- `commit`: commit one order change (an idempotency row stands in for it) and its `order.placed`
  event in one transaction; no relay runs in this process, so the event is never published here.
- `claim`: also claim the event with a relay (short lease) as if it were about to publish it.
Prints `ready <event id>` once done, then sleeps until SIGKILL.
"""

import asyncio
import sys
import time
from datetime import timedelta

from sqlalchemy import insert

from services.common.db import Database
from services.common.events import emit
from services.common.relay import Relay
from services.common.tables import utcnow
from services.orders.models import kernel


class NeverPublishes:
    name, pulls = "none", False

    async def publish(self, envelope):
        raise AssertionError("this process must die before publishing")


async def main(url: str, mode: str) -> str:
    db = Database.from_url(url)
    async with db.session() as session:
        envelope = await emit(session, kernel, event_type="order.placed", aggregate_id="crash-1",
                              payload={"order_id": "crash-1", "seq": 1})
        await session.execute(insert(kernel.idempotency).values(
            scope="crash-test", key=envelope.id, request_hash="-", status_code=201,
            created_at=utcnow(), locked_until=utcnow() + timedelta(seconds=60)))
    if mode == "claim":
        relay = Relay(db, kernel, NeverPublishes(), source="orders", lease_seconds=0.5)
        assert len(await relay.claim()) == 1
    return envelope.id


if __name__ == "__main__":
    event_id = asyncio.run(main(sys.argv[1], sys.argv[2]))
    print(f"ready {event_id}", flush=True)
    while True:
        time.sleep(60)
