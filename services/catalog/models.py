"""Tables of the catalog service, on its own metadata (see services.common.db.service_base).

Stock lives on the product row as three quantities in its sale unit (available, reserved, sold), each
guarded by a CHECK so no code path or race can push one below zero. Prices are integer centavos.
`search_name` is the product name without accents, lowercased: the same search on SQLite and
PostgreSQL, and indexable (a trigram index on PostgreSQL).
"""

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field

from services.common.db import service_base
from services.common.tables import BigId, kernel_tables, utcnow
from services.common.timestamps import UtcDateTime

Base = service_base("catalog")
kernel = kernel_tables(Base.metadata)

Qty = Numeric(14, 3, asdecimal=True)


class LegalForm(StrEnum):
    cooperativa = "cooperativa"
    asociacion = "asociacion"
    oeca = "oeca"
    coraca = "coraca"
    empresa_comunitaria = "empresa_comunitaria"
    otra = "otra"


class Maturity(StrEnum):
    embrionaria = "embrionaria"
    en_consolidacion = "en_consolidacion"
    consolidada = "consolidada"


class ValueChainStage(StrEnum):
    materia_prima = "materia_prima"
    transformacion = "transformacion"
    cadena_completa = "cadena_completa"


class Gender(StrEnum):
    female = "female"
    male = "male"
    other = "other"


class CertificationKind(StrEnum):
    ecologico_sgp = "ecologico_sgp"  # Sistema Participativo de Garantía (ecológico)
    organico = "organico"
    comercio_justo = "comercio_justo"


class CertificationStatus(StrEnum):
    en_proceso = "en_proceso"
    certificado = "certificado"
    suspendido = "suspendido"
    vencido = "vencido"


class Category(StrEnum):
    hortalizas = "hortalizas"
    tuberculos = "tuberculos"
    frutas = "frutas"
    granos_andinos = "granos_andinos"
    lacteos = "lacteos"
    cafe = "cafe"
    cacao = "cacao"
    miel = "miel"
    castana = "castana"
    carnes = "carnes"
    procesados = "procesados"


CATEGORY_LABELS: dict[Category, str] = {
    Category.hortalizas: "Hortalizas",
    Category.tuberculos: "Tubérculos",
    Category.frutas: "Frutas",
    Category.granos_andinos: "Granos andinos",
    Category.lacteos: "Lácteos",
    Category.cafe: "Café",
    Category.cacao: "Cacao",
    Category.miel: "Miel",
    Category.castana: "Castaña",
    Category.carnes: "Carnes",
    Category.procesados: "Procesados",
}


class ReservationStatus(StrEnum):
    reserved = "reserved"
    released = "released"
    committed = "committed"


def _ts(**kw) -> Any:
    return Field(default_factory=utcnow, sa_type=UtcDateTime(), nullable=False, **kw)


class Municipality(Base, table=True):
    __tablename__ = "municipalities"

    code: str = Field(sa_column=Column(String(10), primary_key=True))  # INE code, e.g. "020101"
    name: str = Field(sa_type=String(120), nullable=False)
    province: str = Field(sa_type=String(120), nullable=False)
    department: str = Field(sa_type=String(60), nullable=False, index=True)
    lat: float | None = Field(default=None, sa_type=Float)
    lon: float | None = Field(default=None, sa_type=Float)
    created_at: datetime = _ts()


class Organization(Base, table=True):
    __tablename__ = "organizations"
    __table_args__ = (
        CheckConstraint("member_count >= 0 AND women_count >= 0 AND women_count <= member_count",
                        name="member_counts"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    name: str = Field(sa_type=String(200), nullable=False)
    legal_form: str = Field(sa_type=String(32), nullable=False)
    nit: str | None = Field(default=None, sa_type=String(20))
    legal_papers: list[str] = Field(default_factory=list, sa_type=JSON, nullable=False)
    maturity: str = Field(sa_type=String(32), nullable=False)
    value_chain_stage: str = Field(sa_type=String(32), nullable=False)
    municipality_code: str = Field(sa_column=Column(String(10), ForeignKey("municipalities.code"),
                                                    nullable=False, index=True))
    member_count: int = Field(default=0, sa_type=Integer, nullable=False)
    women_count: int = Field(default=0, sa_type=Integer, nullable=False)
    phone: str | None = Field(default=None, sa_type=String(32))
    whatsapp: str | None = Field(default=None, sa_type=String(32))
    created_at: datetime = _ts()


class Producer(Base, table=True):
    __tablename__ = "producers"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    name: str = Field(sa_type=String(200), nullable=False)
    gender: str = Field(sa_type=String(16), nullable=False)
    phone: str | None = Field(default=None, sa_type=String(32))
    community: str | None = Field(default=None, sa_type=String(120))
    municipality_code: str = Field(sa_column=Column(String(10), ForeignKey("municipalities.code"),
                                                    nullable=False, index=True))
    organization_id: int | None = Field(default=None, sa_column=Column(
        BigId, ForeignKey("organizations.id"), nullable=True, index=True))
    lat: float | None = Field(default=None, sa_type=Float)
    lon: float | None = Field(default=None, sa_type=Float)
    created_at: datetime = _ts()


class MembershipStatus(StrEnum):
    pending = "pending"
    confirmed = "confirmed"
    rejected = "rejected"


class Membership(Base, table=True):
    """A producer's request to join an organization, and its answer.

    `producers.organization_id` is the organization a CONFIRMED membership made her a member of:
    everything that reads it (who speaks for her, inherited certifications, consignments) sees
    confirmed members only. A request stays here, pending, until the organization's account or an
    admin confirms or rejects it; at most one pending request per producer.
    """

    __tablename__ = "memberships"
    __table_args__ = (
        Index("ix_memberships_organization_status", "organization_id", "status", "id"),
        Index("uq_memberships_one_pending", "producer_id", unique=True,
              sqlite_where=text("status = 'pending'"), postgresql_where=text("status = 'pending'")),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    producer_id: int = Field(sa_column=Column(BigId, ForeignKey("producers.id"), nullable=False, index=True))
    organization_id: int = Field(sa_column=Column(BigId, ForeignKey("organizations.id"), nullable=False))
    status: str = Field(sa_type=String(16), nullable=False)
    requested_by: int | None = Field(default=None, sa_type=BigInteger)
    decided_by: int | None = Field(default=None, sa_type=BigInteger)
    requested_at: datetime = _ts()
    decided_at: datetime | None = Field(default=None, sa_type=UtcDateTime())


class Certification(Base, table=True):
    """A certification of a producer or of an organization (covering its members' products).

    `categories` empty means it covers every product of the holder. Rows are never deleted; each
    change of status or validity is appended to `certification_changes`.
    """

    __tablename__ = "certifications"
    __table_args__ = (
        CheckConstraint("(producer_id IS NULL) <> (organization_id IS NULL)", name="one_holder"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    producer_id: int | None = Field(default=None, sa_column=Column(
        BigId, ForeignKey("producers.id"), nullable=True, index=True))
    organization_id: int | None = Field(default=None, sa_column=Column(
        BigId, ForeignKey("organizations.id"), nullable=True, index=True))
    kind: str = Field(sa_type=String(32), nullable=False)
    status: str = Field(sa_type=String(32), nullable=False)
    issuer: str = Field(sa_type=String(200), nullable=False)
    valid_until: date | None = Field(default=None, sa_type=Date)
    categories: list[str] = Field(default_factory=list, sa_type=JSON, nullable=False)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class CertificationChange(Base, table=True):
    __tablename__ = "certification_changes"

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    certification_id: int = Field(sa_column=Column(BigId, ForeignKey("certifications.id"), nullable=False,
                                                   index=True))
    status: str = Field(sa_type=String(32), nullable=False)
    valid_until: date | None = Field(default=None, sa_type=Date)
    note: str | None = Field(default=None, sa_type=Text)
    changed_by: int | None = Field(default=None, sa_type=BigInteger)
    changed_at: datetime = _ts()


class Product(Base, table=True):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("available >= 0", name="available_not_negative"),
        CheckConstraint("reserved >= 0", name="reserved_not_negative"),
        CheckConstraint("sold >= 0", name="sold_not_negative"),
        CheckConstraint("price_centavos >= 0", name="price_not_negative"),
        CheckConstraint("min_order_quantity > 0", name="min_order_positive"),
        CheckConstraint("case_size IS NULL OR case_size > 0", name="case_size_positive"),
        UniqueConstraint("producer_id", "search_name", "unit"),
        Index("ix_products_search_name_trgm", "search_name", postgresql_using="gin",
              postgresql_ops={"search_name": "gin_trgm_ops"}),
        Index("ix_products_active_price", "active", "price_centavos", "id"),
        Index("ix_products_active_name", "active", "search_name", "id"),
        Index("ix_products_active_newest", "active", "created_at", "id"),
        Index("ix_products_category_price", "category", "price_centavos", "id"),
        Index("ix_products_category_name", "category", "search_name", "id"),
        Index("ix_products_category_newest", "category", "id"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    producer_id: int = Field(sa_column=Column(BigId, ForeignKey("producers.id"), nullable=False, index=True))
    name: str = Field(sa_type=String(200), nullable=False)
    search_name: str = Field(sa_type=String(200), nullable=False)
    category: str = Field(sa_type=String(32), nullable=False)
    description: str | None = Field(default=None, sa_type=Text)
    unit: str = Field(sa_type=String(16), nullable=False)
    price_centavos: int = Field(sa_type=BigInteger, nullable=False)
    available: Decimal = Field(default=Decimal(0), sa_type=Qty, nullable=False)
    reserved: Decimal = Field(default=Decimal(0), sa_column_kwargs={"server_default": text("0")},
                              sa_type=Qty, nullable=False)
    sold: Decimal = Field(default=Decimal(0), sa_column_kwargs={"server_default": text("0")},
                          sa_type=Qty, nullable=False)
    min_order_quantity: Decimal = Field(default=Decimal(1), sa_type=Qty, nullable=False)
    case_size: Decimal | None = Field(default=None, sa_type=Qty)
    active: bool = Field(default=True, sa_type=Boolean, nullable=False)
    photo_key: str | None = Field(default=None, sa_type=String(200))
    thumbnail_key: str | None = Field(default=None, sa_type=String(200))
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class PriceChange(Base, table=True):
    """Every price a product has had, from its creation on (public history)."""

    __tablename__ = "price_changes"
    __table_args__ = (Index("ix_price_changes_product_at", "product_id", "changed_at", "id"),)

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    product_id: int = Field(sa_column=Column(BigId, ForeignKey("products.id"), nullable=False))
    price_centavos: int = Field(sa_type=BigInteger, nullable=False)
    unit: str = Field(sa_type=String(16), nullable=False)
    changed_by: int | None = Field(default=None, sa_type=BigInteger)
    changed_at: datetime = _ts()


class ReferencePrice(Base, table=True):
    """One version of a municipality's reference price for a category or a product name, in a unit,
    valid from `valid_from` until the day before `valid_to` (open while `valid_to` is empty), with an
    optional fair band: the least a producer should be paid, the most a consumer should pay."""

    __tablename__ = "reference_prices"
    __table_args__ = (
        CheckConstraint("price_centavos >= 0", name="price_not_negative"),
        CheckConstraint("category IS NOT NULL OR product_name IS NOT NULL", name="category_or_name"),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", name="valid_to_not_before_from"),
        CheckConstraint("band_min_centavos IS NULL OR band_min_centavos <= price_centavos",
                        name="band_min_not_above_price"),
        CheckConstraint("band_max_centavos IS NULL OR band_max_centavos >= price_centavos",
                        name="band_max_not_below_price"),
        Index("ix_reference_prices_municipality", "municipality_code", "id"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigId, primary_key=True, autoincrement=True))
    municipality_code: str = Field(sa_column=Column(String(10), ForeignKey("municipalities.code"),
                                                    nullable=False))
    category: str | None = Field(default=None, sa_type=String(32))
    product_name: str | None = Field(default=None, sa_type=String(200))
    search_name: str | None = Field(default=None, sa_type=String(200))
    unit: str = Field(sa_type=String(16), nullable=False)
    price_centavos: int = Field(sa_type=BigInteger, nullable=False)
    band_min_centavos: int | None = Field(default=None, sa_type=BigInteger)
    band_max_centavos: int | None = Field(default=None, sa_type=BigInteger)
    valid_from: date = Field(sa_type=Date, nullable=False)
    valid_to: date | None = Field(default=None, sa_type=Date)  # the next version's valid_from, or the withdrawal day
    entered_by: int | None = Field(default=None, sa_type=BigInteger)
    created_at: datetime = _ts()


class ReservationLine(Base, table=True):
    """One order line's hold on stock; the line id makes reservation idempotent."""

    __tablename__ = "reservation_lines"
    __table_args__ = (
        CheckConstraint("quantity >= 0", name="quantity_not_negative"),
        Index("ix_reservation_lines_order", "order_id"),
    )

    line_id: str = Field(sa_column=Column(String(64), primary_key=True))
    order_id: str = Field(sa_type=String(64), nullable=False)
    product_id: int = Field(sa_column=Column(BigId, ForeignKey("products.id"), nullable=False, index=True))
    quantity: Decimal = Field(sa_type=Qty, nullable=False)
    status: str = Field(sa_type=String(16), nullable=False)
    created_at: datetime = _ts()
    updated_at: datetime = _ts()
