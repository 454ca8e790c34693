"""The delivery outbox loop: claim one due delivery, hand it to its provider, record the outcome.

Never twice: a delivery is claimed (status `sending`, committed) *before* the provider is called,
and only a `pending` row can be claimed. If the process dies between the claim and the record of
the outcome, nobody knows whether the message went out, so it is never sent again: once its lease
has run out it is marked `interrupted` (the inbox still has the message). A refused or failed call
goes back to `pending` with an exponential backoff (quiet hours respected) until `max_attempts`,
then `failed`. Every call is one row in `notification_attempts`.

Daily cap: at most `daily_cap` WhatsApp/SMS messages per account and Bolivian day (security
messages exempt); beyond it a delivery is `skipped` and the message stays in the inbox.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, insert, select, update

from gateway.notifications.channels import Channels
from gateway.notifications.kinds import KINDS, PHONE_CHANNELS
from gateway.notifications.messages import sms_text
from gateway.notifications.models import Notification, NotificationAttempt, NotificationDelivery
from gateway.notifications.schedule import bolivian_day_bounds, earliest_send
from services.common.backoff import retry_delay
from services.common.db import Database
from services.common.tables import utcnow

log = logging.getLogger("mercado.notifications")
D = NotificationDelivery.__table__
A = NotificationAttempt.__table__
N = Notification.__table__


@dataclass
class SendRound:
    sent: int = 0
    failed: int = 0
    skipped: int = 0
    interrupted: int = 0


@dataclass(frozen=True)
class Claimed:
    id: int
    channel: str
    address: str
    kind: str
    pickup_day: bool
    attempts: int
    title: str
    text: str


class Sender:
    def __init__(self, db: Database, channels: Channels, *, batch_size: int = 50, max_attempts: int = 6,
                 backoff_seconds: float = 60.0, backoff_max_seconds: float = 3600.0, daily_cap: int = 6,
                 lease_seconds: float = 300.0):
        self.db = db
        self.channels = channels
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.backoff_max_seconds = backoff_max_seconds
        self.daily_cap = daily_cap
        self.lease_seconds = lease_seconds

    async def send_due(self) -> SendRound:
        """One round: mark interrupted sends, then send up to `batch_size` due deliveries, one by one."""
        result = SendRound(interrupted=await self.mark_interrupted())
        for _ in range(self.batch_size):
            claimed = await self.claim_one(result)
            if claimed is None:
                break
            if await self.deliver(claimed):
                result.sent += 1
            else:
                result.failed += 1
        return result

    async def claim_one(self, result: SendRound) -> Claimed | None:
        """The next due delivery, now `sending` and committed; None when nothing is due."""
        while True:
            now = utcnow()
            async with self.db.session() as session:
                stmt = (select(D.c.id, D.c.channel, D.c.address, D.c.kind, D.c.pickup_day, D.c.attempts,
                               D.c.account_id, N.c.title, N.c.text)
                        .join(N, N.c.id == D.c.notification_id)
                        .where(D.c.status == "pending", D.c.next_attempt_at <= now)
                        .order_by(D.c.next_attempt_at, D.c.id).limit(1))
                if session.bind.dialect.name == "postgresql":
                    stmt = stmt.with_for_update(skip_locked=True, of=D)
                row = (await session.execute(stmt)).first()
                if row is None:
                    return None
                if await self._over_cap(session, row, now):
                    await session.execute(update(D).where(D.c.id == row.id, D.c.status == "pending").values(
                        status="skipped", last_error="daily cap reached for this account"))
                    result.skipped += 1
                    continue
                claimed = await session.execute(update(D).where(D.c.id == row.id, D.c.status == "pending").values(
                    status="sending", claimed_at=now, attempts=D.c.attempts + 1))
                if claimed.rowcount != 1:
                    continue  # another sender took it first
            return Claimed(id=row.id, channel=row.channel, address=row.address, kind=row.kind,
                           pickup_day=row.pickup_day, attempts=row.attempts + 1, title=row.title,
                           text=sms_text(row.text) if row.channel in PHONE_CHANNELS else row.text)

    async def _over_cap(self, session, row, now) -> bool:
        kind = KINDS.get(row.kind)
        if row.channel not in PHONE_CHANNELS or self.daily_cap <= 0 or (kind is not None and kind.security):
            return False
        start, end = bolivian_day_bounds(now)
        taken = (await session.execute(select(func.count()).select_from(D).where(
            D.c.account_id == row.account_id, D.c.channel.in_(sorted(PHONE_CHANNELS)),
            D.c.status.in_(("sending", "sent", "interrupted")), D.c.claimed_at >= start,
            D.c.claimed_at < end))).scalar_one()
        return taken >= self.daily_cap

    async def deliver(self, claimed: Claimed) -> bool:
        error = await self.channels.send(channel=claimed.channel, address=claimed.address, title=claimed.title,
                                         text=claimed.text)
        now = utcnow()
        async with self.db.session() as session:
            await session.execute(insert(A).values(delivery_id=claimed.id, attempted_at=now,
                                                   outcome="sent" if error is None else "failed", error=error))
            if error is None:
                values = dict(status="sent", sent_at=now, last_error=None)
            elif claimed.attempts >= self.max_attempts:
                values = dict(status="failed", last_error=error)
            else:
                retry_at = earliest_send(claimed.channel, now + timedelta(seconds=self.backoff(claimed.attempts)),
                                         pickup_day=claimed.pickup_day)
                values = dict(status="pending", last_error=error, next_attempt_at=retry_at)
            await session.execute(update(D).where(D.c.id == claimed.id, D.c.status == "sending").values(**values))
        if error is not None:
            log.warning("notification not delivered", extra={"delivery_id": claimed.id, "channel": claimed.channel,
                                                             "attempts": claimed.attempts, "error": error})
        return error is None

    def backoff(self, attempts: int) -> float:
        return retry_delay(attempts, base_seconds=self.backoff_seconds, max_seconds=self.backoff_max_seconds)

    async def mark_interrupted(self) -> int:
        """Deliveries left `sending` longer than the lease: their sender died mid-call. Not resent."""
        cutoff = utcnow() - timedelta(seconds=self.lease_seconds)
        async with self.db.session() as session:
            stuck = (await session.execute(select(D.c.id).where(
                D.c.status == "sending", D.c.claimed_at < cutoff))).scalars().all()
            if not stuck:
                return 0
            await session.execute(update(D).where(D.c.id.in_(stuck), D.c.status == "sending").values(
                status="interrupted", last_error="the sender stopped during the call; not resent"))
            now = utcnow()
            await session.execute(insert(A), [dict(delivery_id=i, attempted_at=now, outcome="interrupted",
                                                   error="the sender stopped during the call; outcome unknown")
                                              for i in stuck])
        return len(stuck)


async def backlog(db: Database) -> dict:
    """For `/healthz`: deliveries due and not sent, how long the oldest has waited, and how many gave up."""
    now = utcnow()
    async with db.session() as session:
        due, oldest = (await session.execute(select(func.count(), func.min(D.c.next_attempt_at)).where(
            D.c.status == "pending", D.c.next_attempt_at <= now))).one()
        failed = (await session.execute(select(func.count()).select_from(D).where(
            D.c.status.in_(("failed", "interrupted"))))).scalar_one()
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=now.tzinfo)
    return {"due": due, "oldest_due_age_seconds": round((now - oldest).total_seconds(), 3) if oldest else None,
            "failed": failed}
