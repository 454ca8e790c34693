"""Names and hours the messages need and the events do not carry: a delivery point's name and
opening hours (delivery service), a product's name (catalog), a cycle's coordinator (orders) and
what a producer receives for a settled cycle (payments), asked over their public APIs and
kept for a few minutes. A peer that is down makes the event handler fail; the event comes again."""

from dataclasses import dataclass, field
from datetime import date

from gateway.notifications.recipients import as_id
from services.common.errors import DomainError
from services.common.http import ServiceClient
from services.common.ttl_cache import TtlCache

CACHE_SECONDS = 600.0


@dataclass(frozen=True)
class PointInfo:
    name: str
    schedule: tuple[dict, ...] = ()

    def hours_on(self, day: date | None) -> str:
        """`de 08:00 a 13:00` for the point's opening on that day ('' when unknown)."""
        if day is None:
            return ""
        for slot in self.schedule:
            if isinstance(slot, dict) and slot.get("weekday") == day.weekday() and slot.get("opens"):
                return f"de {slot['opens']} a {slot.get('closes', '')}".strip()
        return ""


@dataclass
class Directory:
    clients: dict[str, ServiceClient]
    _cache: TtlCache = field(default_factory=lambda: TtlCache(seconds=CACHE_SECONDS))

    async def _get(self, service: str, path: str, key: tuple[str, int]):
        async def load():
            try:
                return await self.clients[service].call("GET", path)
            except DomainError as exc:
                if exc.status != 404:
                    raise
                return None  # gone meanwhile: the message names it by its id

        return await self._cache.get(key, load)

    async def point(self, point_id) -> PointInfo:
        point_id = as_id(point_id)
        if point_id is None:
            return PointInfo(name="su punto de entrega")
        found = await self._get("delivery", f"/points/{point_id}", ("point", point_id))
        if not isinstance(found, dict):
            return PointInfo(name=f"el punto {point_id}")
        return PointInfo(name=found.get("name") or f"el punto {point_id}",
                         schedule=tuple(found.get("schedule") or ()))

    async def cycle(self, cycle_id) -> dict:
        """`{coordinator_account_id, ...}` of a cycle, from orders' service-only owner route ({} if unknown)."""
        cycle_id = as_id(cycle_id)
        if cycle_id is None:
            return {}
        found = await self._get("orders", f"/internal/cycles/{cycle_id}/owner", ("cycle", cycle_id))
        return found if isinstance(found, dict) else {}

    async def net_payable(self, producer_id, cycle_id) -> str | None:
        """What a producer receives for a cycle (her statement's `net_payable`), or None if unknown."""
        producer_id, cycle_id = as_id(producer_id), as_id(cycle_id)
        if producer_id is None or cycle_id is None:
            return None
        try:
            found = await self.clients["payments"].call(
                "GET", f"/internal/producers/{producer_id}/statement-totals", params={"cycle_id": cycle_id})
        except DomainError as exc:
            if exc.status >= 500:
                raise  # payments down: the event comes again
            return None
        totals = found.get("totals") if isinstance(found, dict) else None
        return totals.get("net_payable") if isinstance(totals, dict) else None

    async def product_name(self, product_id) -> str:
        product_id = as_id(product_id)
        if product_id is None:
            return "un producto"
        found = await self._get("catalog", f"/products/{product_id}", ("product", product_id))
        return found.get("name", f"producto {product_id}") if isinstance(found, dict) else f"producto {product_id}"
