"""How long to wait before trying again after failures: one rule for every retry loop (the relay's
outbox, the incoming events, the notifications' deliveries)."""

import random


def retry_delay(attempts: int, *, base_seconds: float, max_seconds: float) -> float:
    """Delay before the next try after `attempts` failed tries: exponential, capped, jittered
    (90–100 % of the delay, so retries of many items do not arrive together)."""
    delay = min(max_seconds, base_seconds * 2 ** max(0, attempts - 1))
    return delay * random.uniform(0.9, 1.0)
