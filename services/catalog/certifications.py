"""Certifications of producers and organizations, with their history, and what "certified" means.

A product shows as certified only while a certification covers it today: status `certificado`,
`valid_until` not past, held by its producer or by the producer's organization, and naming the
product's category (or no category at all, which covers every product of the holder). The same
rule is also one SQL condition (`certified_clause`) for search filters, so lists and details agree.
"""

from datetime import date

from sqlalchemy import and_, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.catalog import access
from services.catalog.models import Certification, CertificationChange, CertificationStatus, Producer, Product
from services.catalog.schemas import CertificationChangeOut, CertificationIn, CertificationOut
from services.common.auth import Principal
from services.common.errors import InvalidInput, NotFound
from services.common.tables import utcnow


def today() -> date:
    return utcnow().date()


def is_valid_on(cert, day: date) -> bool:
    return cert.status == CertificationStatus.certificado.value and (cert.valid_until is None or cert.valid_until >= day)


def covers(cert, category: str) -> bool:
    return not cert.categories or category in cert.categories


async def valid_certifications(*, session: AsyncSession, day: date) -> list:
    """The certifications valid on `day` (few next to the products; one constant, cached statement)."""
    return list((await session.execute(
        select(Certification.producer_id, Certification.organization_id, Certification.categories,
               Certification.kind)
        .where(Certification.status == CertificationStatus.certificado.value,
               or_(Certification.valid_until.is_(None), Certification.valid_until >= day)))).all())


def certified_clause(valid: list, *, product=None, producer=None):
    """SQL: the product (joined to its producer) is covered by one of the `valid` certifications.

    The rule becomes plain IN lists grouped by the categories they cover: a hash probe per row.
    """
    product = product if product is not None else Product.__table__
    producer = producer if producer is not None else Producer.__table__
    groups: dict[tuple[str, frozenset], set[int]] = {}
    for cert in valid:
        key = ("producer" if cert.producer_id is not None else "organization", frozenset(cert.categories or ()))
        groups.setdefault(key, set()).add(cert.producer_id if cert.producer_id is not None else cert.organization_id)
    terms = []
    for (holder, categories), ids in sorted(groups.items(), key=lambda item: (item[0][0], sorted(item[0][1]))):
        column = product.c.producer_id if holder == "producer" else producer.c.organization_id
        term = and_(column.is_not(None), column.in_(sorted(ids)))  # never NULL, so NOT works too
        if categories:
            term = and_(term, product.c.category.in_(sorted(categories)))
        terms.append(term)
    return or_(*terms) if terms else false()


def _out(cert: Certification, history: list[CertificationChange], day: date) -> CertificationOut:
    return CertificationOut(
        id=cert.id, producer_id=cert.producer_id, organization_id=cert.organization_id, kind=cert.kind,
        status=cert.status, issuer=cert.issuer, valid_until=cert.valid_until, categories=list(cert.categories),
        valid_today=is_valid_on(cert, day),
        history=[CertificationChangeOut.model_validate(h, from_attributes=True) for h in history])


async def _history(session: AsyncSession, ids: list[int]) -> dict[int, list[CertificationChange]]:
    out: dict[int, list[CertificationChange]] = {i: [] for i in ids}
    if ids:
        rows = (await session.execute(select(CertificationChange)
                                      .where(CertificationChange.certification_id.in_(ids))
                                      .order_by(CertificationChange.id))).scalars()
        for row in rows:
            out[row.certification_id].append(row)
    return out


async def add_certification(*, session: AsyncSession, principal: Principal, data: CertificationIn,
                            producer_id: int | None = None, organization_id: int | None = None) -> CertificationOut:
    """Coordinators and admins record certifications (they come from a CEM, SPG or certifier)."""
    access.ensure_staff(principal)
    if producer_id is not None:
        await access.load_producer(session=session, producer_id=producer_id)
    else:
        await access.load_organization(session=session, organization_id=organization_id)
    if data.status == CertificationStatus.certificado and data.valid_until is None:
        raise InvalidInput("a granted certification needs valid_until", code="valid_until_required")
    now = utcnow()
    cert = Certification(producer_id=producer_id, organization_id=organization_id, kind=data.kind.value,
                         status=data.status.value, issuer=data.issuer, valid_until=data.valid_until,
                         categories=sorted({c.value for c in data.categories}), created_at=now, updated_at=now)
    session.add(cert)
    await session.flush()
    change = CertificationChange(certification_id=cert.id, status=cert.status, valid_until=cert.valid_until,
                                 note="registrada", changed_by=principal.account_id, changed_at=now)
    session.add(change)
    await session.flush()
    return _out(cert, [change], today())


async def change_certification(*, session: AsyncSession, principal: Principal, certification_id: int,
                               changes: dict) -> CertificationOut:
    access.ensure_staff(principal)
    cert = await session.get(Certification, certification_id)
    if cert is None:
        raise NotFound(f"certification {certification_id} does not exist", code="certification_not_found")
    note = changes.pop("note", None)
    if changes.get("status") is not None:
        cert.status = changes["status"]
    if "valid_until" in changes:
        cert.valid_until = changes["valid_until"]
    if cert.status == CertificationStatus.certificado.value and cert.valid_until is None:
        raise InvalidInput("a granted certification needs valid_until", code="valid_until_required")
    cert.updated_at = utcnow()
    session.add(CertificationChange(certification_id=cert.id, status=cert.status, valid_until=cert.valid_until,
                                    note=note, changed_by=principal.account_id, changed_at=cert.updated_at))
    await session.flush()
    history = await _history(session, [cert.id])
    return _out(cert, history[cert.id], today())


async def list_certifications(*, session: AsyncSession, producer_id: int | None = None,
                              organization_id: int | None = None) -> list[CertificationOut]:
    query = select(Certification).order_by(Certification.id)
    if producer_id is not None:
        await access.load_producer(session=session, producer_id=producer_id)
        query = query.where(Certification.producer_id == producer_id)
    else:
        await access.load_organization(session=session, organization_id=organization_id)
        query = query.where(Certification.organization_id == organization_id)
    certs = list((await session.execute(query)).scalars())
    history = await _history(session, [c.id for c in certs])
    day = today()
    return [_out(c, history[c.id], day) for c in certs]


def covering_certifications(*, products: list, valid: list) -> dict[int, list[str]]:
    """For product rows (id, producer_id, category, organization_id): the kinds certifying each."""
    out: dict[int, list[str]] = {}
    for p in products:
        out[p.id] = sorted({c.kind for c in valid
                            if (c.producer_id == p.producer_id
                                or (c.organization_id is not None and c.organization_id == p.organization_id))
                            and covers(c, p.category)})
    return out
