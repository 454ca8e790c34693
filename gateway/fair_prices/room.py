"""Finding prices outside the fair bands and telling who should know.

`FairPriceWatch.order_placed` runs on each `order.placed` (in the kernel's inbox transaction, beside
the notifications room's own handler); `check_offers` is a periodic duty of the gateway. Both keep
each finding once (`price_alerts.key`) and notify only what is new: the municipality's accounts,
and for a sale below the minimum, the accounts of the producer's organization.
"""

import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.fair_prices.models import PriceAlert
from gateway.fair_prices.rules import BELOW_MIN, Finding, offers_above_band, references_from, sale_below_band
from gateway.notifications import messages
from gateway.notifications.handlers import _tolerant as tolerant
from gateway.notifications.recipients import as_id, municipality_accounts, organization_accounts
from gateway.notifications.record import Outgoing, record
from services.common import clock
from services.common.errors import DomainError
from services.common.events import Envelope
from services.common.http import ServiceClient
from services.common.tables import insert_ignoring_conflict
from services.common.ttl_cache import TtlCache

log = logging.getLogger("mercado.fair_prices")


async def keep(session: AsyncSession, finding: Finding) -> PriceAlert | None:
    """The alert for `finding`, or None when it was already kept (nothing new to tell)."""
    ref = finding.reference
    inserted = await session.execute(insert_ignoring_conflict(session, PriceAlert.__table__).values(
        key=finding.key, kind=finding.kind, municipality_code=finding.municipality_code, product=finding.product,
        unit=finding.unit, price_centavos=finding.price, band_min_centavos=ref.band_min,
        band_max_centavos=ref.band_max, reference_centavos=ref.price, producer_id=as_id(finding.producer_id),
        organization_id=as_id(finding.organization_id), order_id=as_id(finding.order_id),
        created_at=clock.now()))
    if not inserted.rowcount:
        return None
    return (await session.execute(select(PriceAlert).where(PriceAlert.key == finding.key))).scalar_one()


def _text(alert: PriceAlert, *, to_organization: bool = False) -> str:
    if alert.kind == BELOW_MIN:
        return messages.price_below_band(product=alert.product, unit=alert.unit, price=alert.price_centavos,
                                         band_min=alert.band_min_centavos, order_id=alert.order_id,
                                         to_organization=to_organization)
    return messages.price_above_band(product=alert.product, unit=alert.unit, price=alert.price_centavos,
                                     band_max=alert.band_max_centavos)


def _kind(alert: PriceAlert) -> str:
    return "price_below_band" if alert.kind == BELOW_MIN else "price_above_band"


async def outgoing_for(session: AsyncSession, alert: PriceAlert) -> list[Outgoing]:
    subject = f"price_alert:{alert.id}"
    out = [Outgoing(a, _kind(alert), _text(alert), subject=subject)
           for a in await municipality_accounts(session=session, municipality_code=alert.municipality_code)]
    if alert.kind == BELOW_MIN:
        out += [Outgoing(a, _kind(alert), _text(alert, to_organization=True), subject=subject)
                for a in await organization_accounts(session=session, organization_id=alert.organization_id)]
    return out


POINT_SECONDS = 600.0  # a point's municipality
# A territory's reference prices and a product's name and category: a sale is judged by what is at
# most this old, and a reference entered or withdrawn through this gateway process counts at once
# (the proxy tells `forget_references`); another worker's copy ages out within these seconds.
REFERENCES_SECONDS = 5.0


class FairPriceWatch:
    """Bound at start-up to the gateway's service clients, like the notifications room."""

    def __init__(self, *, channels_configured: frozenset[str]):
        self.channels_configured = channels_configured
        self.clients: dict[str, ServiceClient] | None = None
        # every order placed is judged: where its point is and the territory's references are kept a
        # while instead of asked of delivery and catalog each time
        self._points = TtlCache(seconds=POINT_SECONDS)
        self._prices = TtlCache(seconds=REFERENCES_SECONDS)
        self._products = TtlCache(seconds=REFERENCES_SECONDS)
        # a payload no retry can fix is logged and dropped, as the notifications room does
        self.handlers = {"order.placed": tolerant(self.order_placed)}

    def bind(self, clients) -> None:
        self.clients = clients

    def forget_references(self) -> None:
        """A reference price was entered or withdrawn: the next sale is judged by the catalog's own."""
        self._prices.clear()

    def _catalog(self) -> ServiceClient:
        if self.clients is None:  # raised: the event comes again once the app has started
            raise RuntimeError("the fair-price watch is not bound to the service clients yet")
        return self.clients["catalog"]

    async def _get(self, service: str, path: str) -> dict | None:
        """A peer's answer, or None when it has no such thing (404); a peer down raises (the event comes again)."""
        self._catalog()
        try:
            return await self.clients[service].call("GET", path)
        except DomainError as exc:
            if exc.status == 404:
                return None
            raise

    async def _references(self, municipality_code: str) -> list:
        async def load():
            answer = await self._catalog().call("GET", "/reference-prices",
                                                params={"municipality": municipality_code, "limit": 100})
            return references_from(answer.get("items") or [])

        return await self._prices.get(municipality_code, load)

    async def _point(self, point_id: int) -> dict | None:
        return await self._points.get(point_id, lambda: self._get("delivery", f"/points/{point_id}"))

    async def _product(self, product_id: int) -> dict | None:
        return await self._products.get(product_id, lambda: self._get("catalog", f"/products/{product_id}"))

    async def _tell(self, session: AsyncSession, event_id: str, alerts: list[PriceAlert]) -> None:
        """One message per account and kind for this event (several lines of one order: one text each,
        joined), so the inbox's (event, account, kind) key holds them all."""
        grouped: dict[tuple[int, str], list[Outgoing]] = {}
        for alert in alerts:
            for message in await outgoing_for(session, alert):
                grouped.setdefault((message.account.id, message.kind), []).append(message)
        for messages_ in grouped.values():
            first = messages_[0]
            text = messages.fit(" ".join(m.text for m in messages_), messages.INBOX_LIMIT)
            await record(session=session, event_id=event_id, channels_configured=self.channels_configured,
                         message=Outgoing(first.account, first.kind, text, subject=first.subject))

    async def order_placed(self, session: AsyncSession, envelope: Envelope) -> None:
        p = envelope.payload
        lines = [ln for ln in p.get("lines") or [] if isinstance(ln, dict)]
        references: dict[str, list] = {}
        alerts = []
        point = await self._point(as_id(p.get("delivery_point_id")) or 0)
        where = (point or {}).get("municipality_code")
        if where:
            references[where] = await self._references(where)
            if not any(r.band_min is not None for r in references[where]):
                return  # no minimum set where it is sold: nothing to judge, no product to look up
        for line in lines:
            product_id = as_id(line.get("product_id"))
            if product_id is None:
                continue
            product = await self._product(product_id)
            code = (point or {}).get("municipality_code") or (product or {}).get("municipality_code")
            if not product or not code:
                continue  # gone meanwhile: nothing to judge it by
            if code not in references:
                references[code] = await self._references(code)
            finding = sale_below_band(line=line, product=product, municipality_code=code,
                                      order_id=p.get("order_id"), references=references[code])
            if finding is not None and (alert := await keep(session, finding)) is not None:
                alerts.append(alert)
        if alerts:
            log.info("sale below the fair band", extra={"event_id": envelope.id, "alerts": [a.id for a in alerts]})
            await self._tell(session, envelope.id, alerts)

    async def check_offers(self, db) -> int:
        """Today's dearest offers against every municipality's band; returns how many alerts are new."""
        answer = await self._catalog().call("GET", "/stats/supply")
        findings = offers_above_band(answer.get("prices") or [], day=clock.today())
        new = 0
        async with db.session() as session:
            for finding in findings:
                alert = await keep(session, finding)
                if alert is not None:
                    new += 1
                    await self._tell(session, f"price-alert-{alert.id}", [alert])
        return new
