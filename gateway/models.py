"""Tables of the gateway (accounts, refresh tokens, training progress), on its own metadata.

An account logs in by phone number (stored normalised, E.164: `+59171234567`) or e-mail (stored
lowercased); at least one of them is present. Refresh tokens are recorded by their `jti` so that
each one can be spent exactly once (rotation) and a replayed one can be detected; the tokens that
descend from one login share a `family`, which logout revokes whole. `tokens_revoked_at` on an
account makes every access token issued until then invalid (deactivation, role change): services
learn of it from `GET /internal/token-revocations` (see services/common/revocations.py).
"""

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlmodel import Field

from services.common.db import service_base
from services.common.tables import BigId, kernel_tables, utcnow
from services.common.timestamps import UtcDateTime

Base = service_base("gateway")
kernel = kernel_tables(Base.metadata)


class Account(Base, table=True):
    __tablename__ = "accounts"
    __table_args__ = (CheckConstraint("phone IS NOT NULL OR email IS NOT NULL", name="phone_or_email"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    phone: str | None = Field(default=None, sa_column=Column(String(20), unique=True, nullable=True))
    email: str | None = Field(default=None, sa_column=Column(String(254), unique=True, nullable=True))
    password_hash: str = Field(sa_column=Column(String(255), nullable=False))
    name: str = Field(sa_column=Column(String(200), nullable=False))
    role: str = Field(sa_column=Column(String(20), nullable=False, index=True))
    producer_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True, index=True))
    organization_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True, index=True))
    municipality_code: str | None = Field(default=None, sa_column=Column(String(10), nullable=True))
    financier_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    is_active: bool = Field(default=True, sa_column=Column(Boolean, nullable=False, default=True))
    # access tokens issued at or before this moment are refused everywhere
    tokens_revoked_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime(), nullable=True,
                                                                              index=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))


class RefreshToken(Base, table=True):
    __tablename__ = "refresh_tokens"

    jti: str = Field(sa_column=Column(String(32), primary_key=True))
    account_id: int = Field(sa_column=Column(BigId, ForeignKey("accounts.id", ondelete="CASCADE"),
                                             nullable=False, index=True))
    # the jti of the login that started this chain of rotations (its own jti for a login's token)
    family: str | None = Field(default=None, sa_column=Column(String(32), nullable=True, index=True))
    issued_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))
    expires_at: datetime = Field(sa_column=Column(UtcDateTime(), nullable=False))
    # set once when the token is exchanged for a new pair; a second use is a replay
    used_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime(), nullable=True))
    # set when a replay was detected: every outstanding token of the account is revoked
    revoked_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime(), nullable=True))


class LessonProgress(Base, table=True):
    """One account's progress in one training lesson (`gateway.training`): how often the quiz was
    answered, and when it was first passed. One row per (account, lesson): answering again, online
    or from an offline queue, never records a second completion."""

    __tablename__ = "lesson_progress"
    __table_args__ = (UniqueConstraint("account_id", "lesson_key", name="uq_lesson_progress_account_lesson"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    account_id: int = Field(sa_column=Column(BigId, ForeignKey("accounts.id", ondelete="CASCADE"),
                                             nullable=False, index=True))
    lesson_key: str = Field(sa_column=Column(String(120), nullable=False, index=True))
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, default=0))
    best_score: int = Field(default=0, sa_column=Column(Integer, nullable=False, default=0))
    passed_at: datetime | None = Field(default=None, sa_column=Column(UtcDateTime(), nullable=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))


# the notifications and fair-price rooms keep their tables in the gateway's database (same metadata,
# same migrations)
from gateway.fair_prices import models as _fair_price_tables  # noqa: E402, F401
from gateway.notifications import models as _notification_tables  # noqa: E402, F401
