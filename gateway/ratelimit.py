"""Rate limits per client address and per account, in front of everything the gateway serves.

Fixed windows: each (scope, who, window) has one counter. Login and registration have their own,
much smaller, per-address budget (password guessing, account spam). The account comes from a
verified access token only; an unverifiable token simply counts against the address.

Counters live in Redis when `REDIS_URL` is set, so several gateway workers share them, and in
process memory otherwise (then each worker counts on its own). If Redis stops answering, requests
are let through and a warning is logged: the limiter must not take the platform down with it.
The same two stores keep the failed-login records of `gateway.login_throttle` (`failures`,
`add_failure`, `clear_failures`): a count and the time of the last failure per key, forgotten after
a quiet period.
"""

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from services.common.errors import error_body

log = logging.getLogger("mercado.ratelimit")

AUTH_PATHS = frozenset({"/api/auth/login", "/api/auth/register", "/api/auth/refresh"})
EXEMPT_PATHS = frozenset({"/healthz", "/metrics"})


@dataclass(frozen=True)
class Budget:
    scope: str  # address | account | auth
    who: str
    limit: int


Failure = tuple[int, float]  # (failed attempts, time of the last one)
MAX_MEMORY_FAILURE_KEYS = 200_000


class MemoryCounters:
    """Counters of the current window in this process; all of them are dropped when it rolls over."""

    def __init__(self):
        self._window = -1
        self._counts: dict[str, int] = {}
        self._failures: dict[str, tuple[int, float, float]] = {}  # key -> (count, last, forget at)

    async def failures(self, keys: Sequence[str], *, now: float) -> list[Failure]:
        out = []
        for key in keys:
            record = self._failures.get(key)
            out.append((record[0], record[1]) if record and record[2] > now else (0, 0.0))
        return out

    async def add_failure(self, keys: Sequence[str], *, now: float, forget_after: float) -> list[Failure]:
        if len(self._failures) > MAX_MEMORY_FAILURE_KEYS:  # a flood of invented logins: drop what expired
            self._failures = {k: v for k, v in self._failures.items() if v[2] > now}
        out = []
        for key in keys:
            record = self._failures.get(key)
            count = record[0] + 1 if record and record[2] > now else 1
            self._failures[key] = (count, now, now + forget_after)
            out.append((count, now))
        return out

    async def clear_failures(self, keys: Sequence[str]) -> None:
        for key in keys:
            self._failures.pop(key, None)

    async def hit(self, keys: Sequence[str], *, window_index: int, window_seconds: int) -> list[int]:
        if window_index != self._window:
            self._window = window_index
            self._counts = {}
        counts = self._counts
        out = []
        for key in keys:
            value = counts.get(key, 0) + 1
            counts[key] = value
            out.append(value)
        return out

    async def aclose(self) -> None:
        return None

    async def health(self) -> dict:
        return {"counters": "memory", "status": "ok"}


class RedisCounters:
    """Counters in Redis: one INCR per budget, with an expiry, in one round trip."""

    def __init__(self, url: str, *, prefix: str = "mc:rl:", timeout: float = 0.5):
        import redis.asyncio as redis

        self.redis = redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self.prefix = prefix

    async def hit(self, keys: Sequence[str], *, window_index: int, window_seconds: int) -> list[int]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                full = f"{self.prefix}{key}:{window_index}"
                pipe.incr(full)
                pipe.expire(full, window_seconds + 1)
            results = await pipe.execute()
        return [int(v) for v in results[0::2]]

    async def failures(self, keys: Sequence[str], *, now: float) -> list[Failure]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.hmget(f"{self.prefix}fail:{key}", "n", "t")
            results = await pipe.execute()
        return [(int(n or 0), float(t or 0.0)) for n, t in results]

    async def add_failure(self, keys: Sequence[str], *, now: float, forget_after: float) -> list[Failure]:
        async with self.redis.pipeline(transaction=True) as pipe:
            for key in keys:
                full = f"{self.prefix}fail:{key}"
                pipe.hincrby(full, "n", 1)
                pipe.hset(full, "t", repr(now))
                pipe.expire(full, max(1, math.ceil(forget_after)))
            results = await pipe.execute()
        return [(int(n), now) for n in results[0::3]]

    async def clear_failures(self, keys: Sequence[str]) -> None:
        await self.redis.delete(*(f"{self.prefix}fail:{key}" for key in keys))

    async def aclose(self) -> None:
        await self.redis.aclose()

    async def health(self) -> dict:
        try:
            await self.redis.ping()
        except Exception as exc:  # reported, not raised: the limiter fails open
            return {"counters": "redis", "status": "down", "error": type(exc).__name__}
        return {"counters": "redis", "status": "ok"}


class RateLimiter:
    def __init__(self, counters, *, window_seconds: int, per_address: int, per_account: int,
                 auth_per_address: int):
        self.counters = counters
        self.window = max(1, window_seconds)
        self.limits = {"address": per_address, "account": per_account, "auth": auth_per_address}
        self._last_warning = 0.0

    def budgets(self, *, address: str, account_id: int | None, is_auth: bool) -> list[Budget]:
        budgets = [Budget("address", address, self.limits["address"])]
        if account_id is not None:
            budgets.append(Budget("account", str(account_id), self.limits["account"]))
        if is_auth:
            budgets.append(Budget("auth", address, self.limits["auth"]))
        return budgets

    async def exceeded(self, budgets: Sequence[Budget], *, now: float | None = None) -> tuple[Budget, int] | None:
        """Count one request against every budget; the first budget over its limit and the seconds
        until its window ends, or None when the request may go on."""
        now = time.time() if now is None else now
        index = int(now // self.window)
        try:
            counts = await self.counters.hit([f"{b.scope}:{b.who}" for b in budgets], window_index=index,
                                             window_seconds=self.window)
        except Exception as exc:  # fail open: a broken limiter must not stop every request
            if now - self._last_warning > 10:
                self._last_warning = now
                log.warning("rate limit counters unavailable; letting requests through",
                            extra={"error": repr(exc)})
            return None
        for budget, count in zip(budgets, counts, strict=True):
            if count > budget.limit:
                retry_after = max(1, math.ceil((index + 1) * self.window - now))
                return budget, retry_after
        return None

    async def aclose(self) -> None:
        await self.counters.aclose()


_MESSAGES = {
    "address": "too many requests from your address",
    "account": "too many requests for your account",
    "auth": "too many login or registration attempts from your address",
}


def _account_of(scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() != "bearer" or not token:
                return None
            verifier = scope["app"].state.token_verifier
            try:
                return verifier.verify(token.strip()).account_id
            except Exception:
                return None
    return None


class RateLimitMiddleware:
    """Pure ASGI: answers 429 with Retry-After before any work is done for an over-budget caller."""

    def __init__(self, app, *, limiter_of):
        self.app = app
        self.limiter_of = limiter_of  # scope -> RateLimiter | None (built at start-up)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            return await self.app(scope, receive, send)
        limiter: RateLimiter | None = self.limiter_of(scope)
        if limiter is None:
            return await self.app(scope, receive, send)
        client = scope.get("client")
        address = client[0] if client else "unknown"
        is_auth = scope["method"] == "POST" and scope["path"] in AUTH_PATHS
        budgets = limiter.budgets(address=address, account_id=_account_of(scope), is_auth=is_auth)
        verdict = await limiter.exceeded(budgets)
        if verdict is None:
            return await self.app(scope, receive, send)
        budget, retry_after = verdict
        body = orjson.dumps(error_body(
            "rate_limited", f"{_MESSAGES[budget.scope]}; retry in {retry_after} s",
            {"scope": budget.scope, "limit": budget.limit, "window_seconds": limiter.window,
             "retry_after": retry_after}))
        await send({"type": "http.response.start", "status": 429, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(retry_after).encode())]})
        await send({"type": "http.response.body", "body": body})
