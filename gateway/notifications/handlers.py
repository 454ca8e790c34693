"""From events to messages: one handler per event type the notifications room listens to.

Each handler reads the payload (tolerant of missing fields: readers ignore what they don't know and
do without what is absent), finds the recipients among the gateway's accounts, fills in names and
hours from the directory and records the messages. It runs inside the kernel's inbox transaction,
so an event has its effect once; a peer that is down makes it raise, and the event comes again.
"""

import logging
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.notifications import messages
from gateway.notifications.directory import Directory
from gateway.notifications.recipients import accounts_by_id, as_id, consumer, producer_accounts, role_accounts
from gateway.notifications.record import Outgoing, record, was_told
from gateway.notifications.schedule import PICKUP_DAY_FROM, QUIET_FROM, REMINDER_EVE_AT, at_bolivian, local
from services.common.auth import Role
from services.common.events import Envelope
from services.common.incoming import Batched
from services.common.tables import utcnow

log = logging.getLogger("mercado.notifications")

# the waitlist events are read defensively: their payloads may gain fields as that work lands
HANDLED_EVENTS = ("order.placed", "order.cancelled", "order.waitlisted", "order.promoted", "cycle.closed",
                  "consignment.delivered", "advance.disbursed", "advance.repaid", "payment.refunded",
                  "cycle.opened", "cycle.closing_soon", "point.nearly_full", "cycle.settled",
                  "advance.requested", "advance.approved")


def _dicts(value) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _tolerant(handler):
    """A payload no retry can fix (a field of the wrong shape) is logged and dropped, never retried
    forever; what a retry can fix (a peer or the database down) still raises."""

    async def handle(session: AsyncSession, envelope: Envelope) -> None:
        try:
            await handler(session, envelope)
        except (AttributeError, TypeError, ValueError, KeyError) as exc:
            log.error("event payload not usable; nothing notified",
                      extra={"event_id": envelope.id, "event_type": envelope.type, "error": repr(exc)})

    return handle


def _moment(value) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def _date(value) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _cycle_name(p: dict) -> str:
    return str(p.get("name") or f"#{p.get('cycle_id')}")


def _cycle_subject(p: dict) -> str:
    return f"cycle:{p.get('cycle_id')}"


class NotificationRoom:
    """The handlers of one gateway app; `bind` gives them the service clients at start-up."""

    def __init__(self, *, channels_configured: frozenset[str], stale_after_hours: float):
        self.channels_configured = channels_configured
        self.stale_after = timedelta(hours=stale_after_hours)
        self._directory: Directory | None = None
        handlers = {event_type: _tolerant(handler) for event_type, handler in {
            "order.placed": self.order_placed, "order.cancelled": self.order_cancelled,
            "order.waitlisted": self.order_waitlisted, "order.promoted": self.order_promoted,
            "cycle.closed": self.cycle_closed, "consignment.delivered": self.consignment_delivered,
            "advance.disbursed": self.advance_disbursed, "advance.repaid": self.advance_repaid,
            "payment.refunded": self.payment_refunded, "cycle.opened": self.cycle_opened,
            "cycle.closing_soon": self.cycle_closing_soon, "point.nearly_full": self.point_nearly_full,
            "cycle.settled": self.cycle_settled, "advance.requested": self.advance_requested,
            "advance.approved": self.advance_approved,
        }.items()}
        # every order placed comes here: a batch of them asks for its consumers once
        handlers["order.placed"] = Batched(handlers["order.placed"], self.orders_placed)
        self.handlers = handlers
        assert set(self.handlers) == set(HANDLED_EVENTS)

    def bind(self, clients) -> None:
        self._directory = Directory(clients)

    @property
    def directory(self) -> Directory:
        if self._directory is None:  # raised, not dropped: the event comes again once the app has started
            raise RuntimeError("the notifications room is not bound to the service clients yet")
        return self._directory

    async def _send(self, session: AsyncSession, envelope: Envelope, outgoing: list[Outgoing]) -> None:
        occurred = envelope.occurred_at if envelope.occurred_at.tzinfo else envelope.occurred_at.replace(tzinfo=UTC)
        fresh = utcnow() - occurred < self.stale_after
        if not fresh:
            log.info("old event: inbox only, nothing sent", extra={"event_id": envelope.id})
        for message in outgoing:
            await record(session=session, event_id=envelope.id, message=message,
                         channels_configured=self.channels_configured, send=fresh)

    # --- consumers ---

    async def orders_placed(self, session: AsyncSession, envelopes: list[Envelope]) -> None:
        """Several `order.placed` one after another, their consumers read in one statement."""
        known = await accounts_by_id(session=session,
                                     account_ids=[e.payload.get("consumer_account_id") for e in envelopes])
        for envelope in envelopes:
            await _tolerant(partial(self.order_placed, known=known))(session, envelope)

    async def order_placed(self, session: AsyncSession, envelope: Envelope, known: dict | None = None) -> None:
        """`known`: the active accounts by id, already read (a batch), else asked here."""
        p = envelope.payload
        subject = f"order:{p.get('order_id')}"
        if known is None:
            found = await consumer(session=session, account_id=p.get("consumer_account_id"))
        else:
            found = [a for a in [known.get(as_id(p.get("consumer_account_id")))] if a is not None]
        people = [a for a in found
                  # a waiting order that got its slot: `order.promoted` (right after) tells her, once
                  if not await was_told(session=session, account_id=a.id, kind="order_waitlisted", subject=subject)]
        if not people:
            return
        point = await self.directory.point(p.get("delivery_point_id"))
        text = messages.order_placed(order_id=p.get("order_id"), total=p.get("total"), point=point,
                                     day=_date(p.get("delivery_date")), code=p.get("pickup_code"))
        await self._send(session, envelope, [Outgoing(a, "order_placed", text, subject=subject) for a in people])

    async def order_waitlisted(self, session: AsyncSession, envelope: Envelope) -> None:
        p = envelope.payload
        point = await self.directory.point(p.get("delivery_point_id", p.get("point_id")))
        text = messages.order_waitlisted(order_id=p.get("order_id"), point=point, position=p.get("position"))
        people = await consumer(session=session, account_id=p.get("consumer_account_id"))
        subject = f"order:{p.get('order_id')}"
        await self._send(session, envelope, [Outgoing(a, "order_waitlisted", text, subject=subject) for a in people])

    async def order_promoted(self, session: AsyncSession, envelope: Envelope) -> None:
        p = envelope.payload
        point = await self.directory.point(p.get("delivery_point_id", p.get("point_id")))
        text = messages.order_promoted(order_id=p.get("order_id"), point=point, day=_date(p.get("delivery_date")),
                                       code=p.get("pickup_code"), moved=p.get("reason") == "moved")
        people = await consumer(session=session, account_id=p.get("consumer_account_id"))
        subject = f"order:{p.get('order_id')}"
        await self._send(session, envelope, [Outgoing(a, "order_promoted", text, subject=subject) for a in people])

    async def order_cancelled(self, session: AsyncSession, envelope: Envelope) -> None:
        p = envelope.payload
        if p.get("previous_status") == "waitlisted":  # never placed: nothing was owed
            point = await self.directory.point(p.get("delivery_point_id"))
            text = messages.waiting_order_cancelled(order_id=p.get("order_id"), point=point,
                                                    cycle_closed=p.get("reason") == "waitlist_closed")
        else:
            text = messages.order_cancelled(order_id=p.get("order_id"), total=p.get("total"))
        people = await consumer(session=session, account_id=p.get("consumer_account_id"))
        subject = f"order:{p.get('order_id')}"
        await self._send(session, envelope, [Outgoing(a, "order_cancelled", text, subject=subject) for a in people])

    async def payment_refunded(self, session: AsyncSession, envelope: Envelope) -> None:
        p = envelope.payload
        text = messages.refund_made(order_id=p.get("order_id"), amount=p.get("amount"), method=p.get("method"))
        people = await consumer(session=session, account_id=p.get("consumer_account_id"))
        subject = f"order:{p.get('order_id')}"
        await self._send(session, envelope, [Outgoing(a, "refund_made", text, subject=subject) for a in people])

    # --- a cycle opens, closes soon, fills a point, is settled ---

    async def cycle_opened(self, session: AsyncSession, envelope: Envelope) -> None:
        """Every producer of the platform: a cycle is open to all of them."""
        p = envelope.payload
        text = messages.cycle_opened(cycle_name=_cycle_name(p), closes_at=_moment(p.get("closes_at")),
                                     day=_date(p.get("delivery_date")))
        people = await role_accounts(session=session, role=Role.producer)
        await self._send(session, envelope, [Outgoing(a, "cycle_opened", text, subject=_cycle_subject(p))
                                             for a in people])

    async def cycle_closing_soon(self, session: AsyncSession, envelope: Envelope) -> None:
        p = envelope.payload
        text = messages.cycle_closing_soon(cycle_name=_cycle_name(p), closes_at=_moment(p.get("closes_at")),
                                           placed=p.get("orders_placed", 0), waitlisted=p.get("orders_waitlisted", 0))
        people = await consumer(session=session, account_id=p.get("coordinator_account_id"))
        await self._send(session, envelope, [Outgoing(a, "cycle_closing_soon", text, subject=_cycle_subject(p))
                                             for a in people])

    async def point_nearly_full(self, session: AsyncSession, envelope: Envelope) -> None:
        """The cycle's coordinator (asked of orders), once per point and cycle however often the point
        fills up again after cancellations."""
        p = envelope.payload
        cycle = await self.directory.cycle(p.get("cycle_id"))
        subject = f"point:{p.get('cycle_id')}:{p.get('point_id')}"
        people = [a for a in await consumer(session=session, account_id=cycle.get("coordinator_account_id"))
                  if not await was_told(session=session, account_id=a.id, kind="point_nearly_full", subject=subject)]
        if not people:
            return
        point = await self.directory.point(p.get("point_id"))
        text = messages.point_nearly_full(cycle_name=cycle.get("name") or f"#{p.get('cycle_id')}", point=point,
                                          booked=p.get("booked"), capacity=p.get("capacity"))
        await self._send(session, envelope, [Outgoing(a, "point_nearly_full", text, subject=subject) for a in people])

    async def cycle_settled(self, session: AsyncSession, envelope: Envelope) -> None:
        """Each producer who sold in the cycle, with what she receives (her statement, from payments)."""
        p = envelope.payload
        outgoing = []
        for producer_id in p.get("producer_ids") or []:
            people = await producer_accounts(session=session, producer_id=producer_id)
            if not people:
                continue
            text = messages.settlement_ready(cycle_name=_cycle_name(p), net_payable=await self.directory.net_payable(
                producer_id, p.get("cycle_id")))
            outgoing += [Outgoing(a, "settlement_ready", text, subject=_cycle_subject(p)) for a in people]
        await self._send(session, envelope, outgoing)

    # --- the cycle closes: pick lists for producers, pickup reminders for consumers ---

    async def cycle_closed(self, session: AsyncSession, envelope: Envelope) -> None:
        p = envelope.payload
        day = _date(p.get("delivery_date"))
        outgoing = await self._pick_lists(session, p, day)
        if day is not None:
            outgoing += await self._reminders(session, p, day)
        await self._send(session, envelope, outgoing)

    async def _pick_lists(self, session: AsyncSession, p: dict, day: date | None) -> list[Outgoing]:
        stops: dict[int, list] = defaultdict(list)
        for consignment in _dicts(p.get("consignments")):
            items = [messages.quantity(line.get("quantity"), line.get("unit", "")) + " "
                     + (line.get("product_name") or f"producto {line.get('product_id')}")
                     for line in _dicts(consignment.get("lines"))]
            if items:
                point = await self.directory.point(consignment.get("delivery_point_id"))
                stops[consignment.get("producer_id")].append((point, items))
        outgoing = []
        for producer_id, producer_stops in stops.items():
            text = messages.pick_list(cycle_name=p.get("name") or f"#{p.get('cycle_id')}", day=day,
                                      stops=producer_stops)
            for account in await producer_accounts(session=session, producer_id=producer_id):
                outgoing.append(Outgoing(account, "pick_list_ready", text))
        return outgoing

    async def _reminders(self, session: AsyncSession, p: dict, day: date) -> list[Outgoing]:
        """The evening before (18:00) and the pickup morning (06:00), for each bag; none once late."""
        now = utcnow()
        eve, eve_quiet = at_bolivian(day - timedelta(days=1), REMINDER_EVE_AT), \
            at_bolivian(day - timedelta(days=1), QUIET_FROM)
        morning, day_end = at_bolivian(day, PICKUP_DAY_FROM), at_bolivian(day + timedelta(days=1), QUIET_FROM)
        if local(now).date() > day:
            return []
        bags = _dicts(p.get("bags"))
        people = await accounts_by_id(session=session, account_ids=[b.get("consumer_account_id") for b in bags])
        outgoing = []
        for bag in bags:
            account = people.get(as_id(bag.get("consumer_account_id")))
            if account is None:
                continue
            point = await self.directory.point(bag.get("delivery_point_id"))
            if now < eve_quiet:
                outgoing.append(Outgoing(account, "pickup_tomorrow", messages.pickup_reminder(
                    order_id=bag.get("order_id"), point=point, day=day, today=False), show_at=max(now, eve)))
            if now < day_end:
                outgoing.append(Outgoing(account, "pickup_today", messages.pickup_reminder(
                    order_id=bag.get("order_id"), point=point, day=day, today=True), show_at=max(now, morning),
                    pickup_day=True))
        return outgoing

    # --- producers ---

    async def consignment_delivered(self, session: AsyncSession, envelope: Envelope) -> None:
        p = envelope.payload
        point = await self.directory.point(p.get("delivery_point_id"))
        rejected = []
        for line in _dicts(p.get("lines")):
            try:
                refused = Decimal(str(line.get("rejected_quantity") or 0)) > 0
            except (InvalidOperation, ValueError):
                refused = False
            if refused:
                name = await self.directory.product_name(line.get("product_id"))
                reason = f" ({line['reject_reason']})" if line.get("reject_reason") else ""
                rejected.append(f"{messages.quantity(line['rejected_quantity'], line.get('unit', ''))} {name}{reason}")
        text = messages.goods_received(point=point, accepted_value=p.get("accepted_value"), rejected=rejected)
        people = await producer_accounts(session=session, producer_id=p.get("producer_id"))
        await self._send(session, envelope, [Outgoing(a, "goods_received", text) for a in people])

    async def advance_disbursed(self, session: AsyncSession, envelope: Envelope) -> None:
        p = envelope.payload
        text = messages.advance_disbursed(principal=p.get("principal"), fee=p.get("fee"))
        people = await producer_accounts(session=session, producer_id=p.get("producer_id"))
        await self._send(session, envelope, [Outgoing(a, "advance_disbursed", text) for a in people])

    async def advance_approved(self, session: AsyncSession, envelope: Envelope) -> None:
        """An advance approved by its financier; one approved automatically is told by its disbursal."""
        p = envelope.payload
        if p.get("auto_approved"):
            return
        text = messages.advance_approved(principal=p.get("principal"), fee=p.get("fee"))
        people = await producer_accounts(session=session, producer_id=p.get("producer_id"))
        await self._send(session, envelope, [Outgoing(a, "advance_approved", text) for a in people])

    async def advance_requested(self, session: AsyncSession, envelope: Envelope) -> None:
        """The accounts of the financier whose policy the advance falls under."""
        p = envelope.payload
        text = messages.advance_requested(advance_id=p.get("advance_id"), producer_id=p.get("producer_id"),
                                          principal=p.get("principal"), fee=p.get("fee"))
        people = await role_accounts(session=session, role=Role.financier, financier_id=p.get("financier_id"))
        await self._send(session, envelope, [Outgoing(a, "advance_requested", text) for a in people])

    async def advance_repaid(self, session: AsyncSession, envelope: Envelope) -> None:
        p = envelope.payload
        text = messages.advance_repaid(principal_repaid=p.get("principal_repaid"), fee_repaid=p.get("fee_repaid"),
                                       outstanding=p.get("outstanding"))
        people = await producer_accounts(session=session, producer_id=p.get("producer_id"))
        await self._send(session, envelope, [Outgoing(a, "advance_repaid", text) for a in people])
