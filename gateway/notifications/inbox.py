"""The in-app inbox ("Avisos"): an account's messages, newest first, what is unread, marking read.
An account only ever sees and marks its own messages; someone else's is "not found"."""

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.notifications.models import Notification, NotificationAttempt, NotificationDelivery
from services.common.errors import NotFound
from services.common.pagination import make_page
from services.common.tables import utcnow


def _visible(account_id: int):
    return (Notification.account_id == account_id, Notification.show_at <= utcnow())


async def list_notifications(*, session: AsyncSession, account_id: int, limit: int, cursor: list | None,
                             unread_only: bool = False) -> tuple[list[dict], str | None]:
    stmt = select(Notification).where(*_visible(account_id))
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    if cursor:
        stmt = stmt.where(Notification.id < int(cursor[0]))
    rows = list((await session.execute(stmt.order_by(Notification.id.desc()).limit(limit + 1))).scalars())
    rows, next_cursor = make_page(rows, limit, key=lambda n: (n.id,))
    deliveries = await deliveries_of(session=session, notification_ids=[n.id for n in rows])
    return [notification_view(n, deliveries.get(n.id, [])) for n in rows], next_cursor


async def unread_count(*, session: AsyncSession, account_id: int) -> int:
    return (await session.execute(select(func.count()).select_from(Notification).where(
        *_visible(account_id), Notification.read_at.is_(None)))).scalar_one()


async def mark_read(*, session: AsyncSession, account_id: int, notification_id: int) -> dict:
    found = (await session.execute(select(Notification).where(
        Notification.id == notification_id, *_visible(account_id)))).scalar_one_or_none()
    if found is None:
        raise NotFound(f"there is no notification {notification_id} for this account", code="notification_not_found")
    if found.read_at is None:
        found.read_at = utcnow()
        await session.flush()
    deliveries = await deliveries_of(session=session, notification_ids=[found.id])
    return notification_view(found, deliveries.get(found.id, []))


async def mark_all_read(*, session: AsyncSession, account_id: int) -> int:
    result = await session.execute(update(Notification).where(*_visible(account_id), Notification.read_at.is_(None))
                                   .values(read_at=utcnow()))
    return result.rowcount or 0


async def deliveries_of(*, session: AsyncSession, notification_ids: list[int]) -> dict[int, list[dict]]:
    """Each notification's deliveries with their attempts, in two queries."""
    if not notification_ids:
        return {}
    deliveries = list((await session.execute(select(NotificationDelivery).where(
        NotificationDelivery.notification_id.in_(notification_ids)).order_by(NotificationDelivery.id))).scalars())
    attempts: dict[int, list[dict]] = {}
    if deliveries:
        rows = await session.execute(select(NotificationAttempt).where(
            NotificationAttempt.delivery_id.in_([d.id for d in deliveries]))
            .order_by(NotificationAttempt.delivery_id, NotificationAttempt.id))
        for a in rows.scalars():
            attempts.setdefault(a.delivery_id, []).append(
                {"attempted_at": a.attempted_at, "outcome": a.outcome, "error": a.error})
    out: dict[int, list[dict]] = {}
    for d in deliveries:
        out.setdefault(d.notification_id, []).append({
            "channel": d.channel, "status": d.status, "attempts": attempts.get(d.id, []),
            "next_attempt_at": d.next_attempt_at if d.status == "pending" else None, "sent_at": d.sent_at,
            "last_error": d.last_error})
    return out


def notification_view(n: Notification, deliveries: list[dict]) -> dict:
    return {"id": n.id, "kind": n.kind, "title": n.title, "text": n.text, "created_at": n.show_at,
            "read": n.read_at is not None, "read_at": n.read_at, "deliveries": deliveries}
