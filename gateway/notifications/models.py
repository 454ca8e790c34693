"""Tables of the notifications room (gateway database): the in-app inbox, each account's choices,
and the delivery outbox with one row per attempt.

- `notifications`: what an account reads under "Avisos"; one per (event, account, kind).
- `notification_preferences`: the channels an account chose and the kinds it muted (no row: defaults).
- `notification_deliveries`: one message to one address over one channel, unique on
  (event, account, kind, channel), so however often an event arrives, a message goes out once.
  Status: pending -> sending (claimed, before the provider is called) -> sent | pending (retry) |
  failed (gave up) | skipped (daily cap, nothing to send to) | interrupted (the sender died while
  sending: never sent again, because it may have gone out).
- `notification_attempts`: every call to a provider and its outcome (sent, failed with the reason).
"""

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field

from gateway.models import Base
from services.common.tables import BigId, utcnow
from services.common.timestamps import UtcDateTime


class Notification(Base, table=True):
    __tablename__ = "notifications"
    __table_args__ = (UniqueConstraint("event_id", "account_id", "kind", name="uq_notification_event_account_kind"),
                      Index("ix_notifications_account_id_id", "account_id", "id"))

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    account_id: int = Field(sa_column=Column(BigId, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False))
    event_id: str = Field(sa_column=Column(String(36), nullable=False))
    kind: str = Field(sa_column=Column(String(40), nullable=False))
    # what the message is about (`order:41`), so a later message can know what was said before
    subject: str | None = Field(default=None, sa_column=Column(String(40), nullable=True))
    title: str = Field(sa_column=Column(String(120), nullable=False))
    text: str = Field(sa_column=Column(String(500), nullable=False))
    # a reminder is written when its event arrives but shown (and sent) from this moment on
    show_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    read_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime(), nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))


class NotificationPreference(Base, table=True):
    __tablename__ = "notification_preferences"

    account_id: int = Field(sa_column=Column(BigId, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True))
    channels: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    muted_kinds: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))


class NotificationDelivery(Base, table=True):
    __tablename__ = "notification_deliveries"
    __table_args__ = (UniqueConstraint("event_id", "account_id", "kind", "channel", name="uq_delivery_once"),
                      Index("ix_notification_deliveries_due", "status", "next_attempt_at"))

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    notification_id: int = Field(sa_column=Column(BigId, ForeignKey("notifications.id", ondelete="CASCADE"),
                                                  nullable=False, index=True))
    event_id: str = Field(sa_column=Column(String(36), nullable=False))
    account_id: int = Field(sa_column=Column(BigId, nullable=False, index=True))
    kind: str = Field(sa_column=Column(String(40), nullable=False))
    channel: str = Field(sa_column=Column(String(16), nullable=False))
    address: str = Field(sa_column=Column(String(254), nullable=False))
    # a pickup-day reminder may go out from 06:00 instead of 07:00 (quiet hours)
    pickup_day: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, default=False))
    status: str = Field(default="pending", sa_column=Column(String(16), nullable=False))
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, default=0))
    next_attempt_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    claimed_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime(), nullable=True))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime(), nullable=True))
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))


class NotificationAttempt(Base, table=True):
    __tablename__ = "notification_attempts"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    delivery_id: int = Field(sa_column=Column(BigId, ForeignKey("notification_deliveries.id", ondelete="CASCADE"),
                                              nullable=False, index=True))
    attempted_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))
    outcome: str = Field(sa_column=Column(String(16), nullable=False))  # sent | failed | interrupted
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
