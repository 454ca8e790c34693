"""A pooled service-to-service HTTP client with explicit timeouts.

One client per process and target service, reused for every call. Connection failures and timeouts
become `ServiceUnavailable` (503) so a caller never hangs and never answers 500. Only idempotent
requests are retried: GET, calls carrying an Idempotency-Key, and calls the caller marks
`idempotent=True` because the callee is idempotent by design (a reservation by line id, a booking
by order id), which spares the callee the idempotency-key bookkeeping on hot paths.
"""

import asyncio
import logging

import httpx

from services.common.auth import SERVICE_KEY_HEADER
from services.common.errors import DomainError, ServiceUnavailable
from services.common.observability import request_id_var

log = logging.getLogger("mercado.http")


class ServiceClient:
    def __init__(self, name: str, base_url: str, *, secret: str, caller: str, timeout: float = 5.0,
                 retries: int = 2, transport: httpx.AsyncBaseTransport | None = None):
        self.name = name
        self.retries = retries
        self.client = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 2.0)),
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=50),
            headers={SERVICE_KEY_HEADER: secret, "X-Service-Name": caller},
            transport=transport,
        )

    async def request(self, method: str, path: str, *, json=None, params=None, idempotency_key: str | None = None,
                      idempotent: bool = False, headers: dict[str, str] | None = None) -> httpx.Response:
        hdrs = {"X-Request-ID": request_id_var.get(), **(headers or {})}
        if idempotency_key:
            hdrs["Idempotency-Key"] = idempotency_key
        retryable = method == "GET" or idempotent or idempotency_key is not None
        attempts = 1 + (self.retries if retryable else 0)
        for attempt in range(attempts):
            try:
                return await self.client.request(method, path, json=json, params=params, headers=hdrs)
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                log.warning("call to %s failed", self.name, extra={"path": path, "error": repr(exc),
                                                                   "attempt": attempt + 1})
                if attempt + 1 >= attempts:
                    raise ServiceUnavailable(f"the {self.name} service is not answering; try again shortly",
                                             details={"service": self.name}) from None
                await asyncio.sleep(0.05 * 2**attempt)
        raise AssertionError("unreachable")

    async def call(self, method: str, path: str, **kw) -> dict:
        """Request and decode JSON; the callee's error shape is re-raised as the same DomainError."""
        response = await self.request(method, path, **kw)
        if response.status_code >= 500:
            raise ServiceUnavailable(f"the {self.name} service failed ({response.status_code})",
                                     details={"service": self.name})
        data = response.json() if response.content else {}
        if response.status_code >= 400:
            err = data.get("error", {}) if isinstance(data, dict) else {}
            raise DomainError(err.get("message", f"{self.name} refused the request"),
                              code=err.get("code", "upstream_error"), status=response.status_code,
                              details=err.get("details") or {})
        return data

    async def aclose(self) -> None:
        await self.client.aclose()
