"""Access tokens that must stop working before they expire: a deactivated account, a changed role.

The gateway records, per account, the moment until which its access tokens are revoked, and
answers `GET /internal/token-revocations` (service secret) with every such moment recent enough to
still matter (within the access-token lifetime). Each process keeps that list in memory,
`RevocationList`, refreshed in the background every `MC_TOKEN_REVOCATION_POLL_SECONDS` (15 s,
never more than 60), and `TokenVerifier` looks a token's account up in it on every request: the hot
path costs a dictionary lookup, and a revoked token stops working everywhere within a minute.
If the gateway does not answer, the last list is kept and a warning is logged.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger("mercado.revocations")

MAX_POLL_SECONDS = 60.0
# account id -> epoch seconds: its access tokens issued before then are refused
Revoked = dict[int, float]
Source = Callable[[], Awaitable[Revoked]]


class RevocationList:
    def __init__(self, source: Source | None = None):
        self.source = source
        self._revoked: Revoked = {}
        self.refreshed_at: float | None = None
        self._last_warning = 0.0

    def is_revoked(self, account_id: int, issued_at: float | None) -> bool:
        before = self._revoked.get(account_id)
        return before is not None and (issued_at is None or issued_at < before)

    def revoke(self, account_id: int, before: float) -> None:
        """Take one revocation at once (the gateway, for what it has just decided)."""
        self._revoked[account_id] = max(before, self._revoked.get(account_id, 0.0))

    async def refresh(self) -> None:
        if self.source is None:
            return
        revoked = await self.source()
        self._revoked = {**revoked}
        self.refreshed_at = time.time()

    async def run(self, every: float) -> None:
        """Refresh forever (a background task); failures keep the last list."""
        every = min(max(every, 0.5), MAX_POLL_SECONDS)
        while True:
            try:
                await self.refresh()
            except Exception as exc:  # the loop must survive; the last list stays in force
                now = time.time()
                if now - self._last_warning > 60:
                    self._last_warning = now
                    log.warning("token revocations could not be refreshed; keeping the last list",
                                extra={"error": repr(exc)})
            await asyncio.sleep(every)


def parse_revocations(body: dict) -> Revoked:
    return {int(item["account_id"]): float(item["before"]) for item in body.get("revoked", [])}


def gateway_source(client) -> Source:
    """The list as the gateway serves it, through a kernel `ServiceClient` holding the service secret."""

    async def fetch() -> Revoked:
        return parse_revocations(await client.call("GET", "/internal/token-revocations"))

    return fetch
