"""A sending process for the crash test: sends every due notification, one by one, and is killed
(SIGKILL) by the test while the provider holds one of its calls.

`python -m tests.notifications.crash_sender <gateway database url> <whatsapp apprise url>`
"""

import asyncio
import sys

from gateway.notifications.channels import Channels
from gateway.notifications.sender import Sender
from services.common.db import Database


async def main(url: str, whatsapp_url: str) -> None:
    db = Database.from_url(url)
    sender = Sender(db, Channels({"whatsapp": whatsapp_url}), batch_size=1000)
    print("sending", flush=True)
    result = await sender.send_due()
    print(f"done {result}", flush=True)  # the test kills it before this
    await db.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
