"""The `price_alerts` table (gateway database): one row per price found outside a fair band."""

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, String
from sqlmodel import Field

from gateway.models import Base
from services.common.tables import BigId, utcnow
from services.common.timestamps import UtcDateTime


class PriceAlert(Base, table=True):
    """`kind` is `below_min` (sold below the band's minimum) or `above_max` (offered above its
    maximum); `key` says what it is about (`sale:<order line>` or `offer:<reference>:<day>`), so the
    same finding is kept once however often the event or the check comes."""

    __tablename__ = "price_alerts"
    __table_args__ = (Index("ix_price_alerts_municipality_id", "municipality_code", "id"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    key: str = Field(sa_column=Column(String(80), nullable=False, unique=True))
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    municipality_code: str = Field(sa_column=Column(String(10), nullable=False))
    product: str = Field(sa_column=Column(String(200), nullable=False))
    unit: str = Field(sa_column=Column(String(16), nullable=False))
    price_centavos: int = Field(sa_column=Column(BigInteger, nullable=False))
    band_min_centavos: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    band_max_centavos: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    reference_centavos: int = Field(sa_column=Column(BigInteger, nullable=False))
    producer_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    organization_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    order_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=Column(UtcDateTime(), nullable=False))
