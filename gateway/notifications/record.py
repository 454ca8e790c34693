"""Writing a message: one inbox entry per (event, account, kind), and one pending delivery per
channel the account chose and the deployment configured, each keyed by (event, account, kind,
channel) so nothing is queued twice however often the event arrives."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.models import Account
from gateway.notifications.kinds import KINDS
from gateway.notifications.models import Notification, NotificationDelivery
from gateway.notifications.preferences import address_of, preferences_of
from gateway.notifications.schedule import earliest_send
from services.common.tables import insert_ignoring_conflict, utcnow


@dataclass(frozen=True)
class Outgoing:
    """What the handlers hand over: one message for one account."""

    account: Account
    kind: str
    text: str
    show_at: datetime | None = None  # a reminder's moment; None: now
    pickup_day: bool = False
    subject: str | None = None  # `order:41`: what the message is about


async def record(*, session: AsyncSession, event_id: str, message: Outgoing, channels_configured: frozenset[str],
                 send: bool = True) -> int:
    """Write the inbox entry and its deliveries; returns the notification id.

    `send=False` (a stale event, replayed long after it happened) writes the inbox entry only."""
    kind = KINDS[message.kind]
    now = utcnow()
    show_at = message.show_at or now
    account = message.account
    await session.execute(insert_ignoring_conflict(session, Notification.__table__).values(
        account_id=account.id, event_id=event_id, kind=kind.code, subject=message.subject, title=kind.title,
        text=message.text,
        show_at=show_at, created_at=now))
    notification_id = (await session.execute(select(Notification.id).where(
        Notification.event_id == event_id, Notification.account_id == account.id,
        Notification.kind == kind.code))).scalar_one()
    if not send:
        return notification_id
    channels, muted = await preferences_of(session=session, account=account)
    if kind.code in muted and not kind.security:
        return notification_id
    rows = []
    for channel in channels:
        address = address_of(account, channel)
        if channel not in channels_configured or not address:
            continue
        rows.append(dict(notification_id=notification_id, event_id=event_id, account_id=account.id,
                         kind=kind.code, channel=channel, address=address, pickup_day=message.pickup_day,
                         status="pending", attempts=0, created_at=now,
                         next_attempt_at=earliest_send(channel, show_at, pickup_day=message.pickup_day)))
    for row in rows:
        await session.execute(insert_ignoring_conflict(session, NotificationDelivery.__table__).values(**row))
    return notification_id


async def was_told(*, session: AsyncSession, account_id: int, kind: str, subject: str) -> bool:
    """Whether the account already has a message of `kind` about `subject`."""
    found = await session.execute(select(Notification.id).where(
        Notification.account_id == account_id, Notification.kind == kind, Notification.subject == subject).limit(1))
    return found.first() is not None


__all__ = ["Outgoing", "record", "was_told"]
