"""A small in-process cache of what peers answer, for a while: names, places and prices that event
handlers need on every event and that change rarely (a point's municipality, a territory's reference
prices). Bounded: past `max_entries` the oldest entry goes, so a flood of ids cannot grow memory.
Each worker keeps its own; an answer may be up to `seconds` old, which is why callers choose it."""

import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Any


class TtlCache:
    def __init__(self, *, seconds: float, max_entries: int = 1024):
        self.seconds = seconds
        self.max_entries = max_entries
        self._entries: dict[Hashable, tuple[float, Any]] = {}

    async def get(self, key: Hashable, load: Callable[[], Awaitable[Any]]) -> Any:
        """The kept answer for `key` while fresh, else `await load()` kept (an exception is not kept)."""
        hit = self._entries.get(key)
        now = time.monotonic()
        if hit is not None and now - hit[0] < self.seconds:
            return hit[1]
        value = await load()
        self._entries.pop(key, None)
        while len(self._entries) >= self.max_entries:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = (now, value)
        return value

    def clear(self) -> None:
        """Forget every kept answer (what they came from has changed)."""
        self._entries.clear()
