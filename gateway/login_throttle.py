"""Failed logins slow the guesser down, never the owner.

Failures are counted per (account, client address) and per client address, never per account
alone: whoever guesses from an address waits longer and longer (exponential delay once a few free
failures are used up), while the owner, typing the right password from an address that has not been
failing, is never refused because of someone else's failures. The account is the identity, not the
text typed: the phone number and the e-mail of one account count as one. Logins that match no
account are counted under the normalised text, so an unknown login is throttled exactly like a
known one (nothing tells them apart).

A correct password clears the (account, address) record; the address record is only forgotten after
a quiet period, so logging into one's own account does not reset a spray against others.
The records live in the rate limiter's store (memory or Redis, `gateway.ratelimit`); if Redis stops
answering the throttle lets attempts through and logs a warning, like the limiter.
"""

import logging
import math
import time
from dataclasses import dataclass

from services.common.errors import RateLimited

log = logging.getLogger("mercado.login_throttle")


@dataclass(frozen=True)
class ThrottlePolicy:
    free_per_login: int = 5  # failures on one account from one address before delays start
    free_per_address: int = 20  # failures from one address, on any accounts
    base_delay_seconds: float = 1.0
    max_delay_seconds: float = 15 * 60
    forget_after_seconds: float = 3600  # a record with no failure for this long is dropped

    def delay(self, failures: int, free: int) -> float:
        """Seconds to wait after the last failure before the next attempt is heard."""
        if failures < free:
            return 0.0
        return min(self.max_delay_seconds, self.base_delay_seconds * 2 ** min(failures - free, 40))


def login_keys(*, identity: str, address: str) -> tuple[str, str]:
    return f"login:{identity}:{address}", f"login-address:{address}"


class LoginThrottle:
    def __init__(self, store, policy: ThrottlePolicy | None = None):
        self.store = store  # MemoryCounters or RedisCounters
        self.policy = policy or ThrottlePolicy()
        self._last_warning = 0.0

    async def check(self, *, identity: str, address: str, now: float | None = None) -> None:
        """Raise RateLimited while this address must still wait before trying this account again."""
        now = time.time() if now is None else now
        pair, whole = login_keys(identity=identity, address=address)
        try:
            (pair_n, pair_t), (addr_n, addr_t) = await self.store.failures([pair, whole], now=now)
        except Exception as exc:  # fail open, like the limiter
            self._warn(now, exc)
            return
        policy = self.policy
        waits = [("login", pair_t + policy.delay(pair_n, policy.free_per_login) - now, pair_n),
                 ("login_address", addr_t + policy.delay(addr_n, policy.free_per_address) - now, addr_n)]
        scope, wait, failures = max(waits, key=lambda w: w[1])
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            raise RateLimited(f"too many failed logins from your address; retry in {retry_after} s",
                              details={"scope": scope, "failures": failures, "retry_after": retry_after},
                              headers={"Retry-After": str(retry_after)})

    async def failed(self, *, identity: str, address: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        try:
            await self.store.add_failure(list(login_keys(identity=identity, address=address)), now=now,
                                         forget_after=self.policy.forget_after_seconds)
        except Exception as exc:
            self._warn(now, exc)

    async def succeeded(self, *, identity: str, address: str) -> None:
        try:
            await self.store.clear_failures([login_keys(identity=identity, address=address)[0]])
        except Exception as exc:
            self._warn(time.time(), exc)

    def _warn(self, now: float, exc: Exception) -> None:
        if now - self._last_warning > 10:
            self._last_warning = now
            log.warning("login throttle store unavailable; letting attempts through", extra={"error": repr(exc)})
