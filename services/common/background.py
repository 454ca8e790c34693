"""Stopping background tasks (relay, event consumer, periodic duties) within a bounded time.

A cancelled task normally ends at once; one caught in a driver call that does not honour
cancellation promptly must not hold the whole process's shutdown: after `within` seconds it is left to
the event loop's teardown and logged.
"""

import asyncio
import logging

log = logging.getLogger("mercado.background")


async def cancel_and_wait(task: asyncio.Task | None, *, within: float = 5.0) -> None:
    if task is None or task.done():
        return
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=within)
    if not done:
        log.warning("background task did not stop in time; leaving it", extra={"task": task.get_name()})
    elif not task.cancelled() and task.exception() is not None:
        log.warning("background task ended with an error", extra={"task": task.get_name(),
                                                                  "error": repr(task.exception())})
