"""The catalog's part of the demo world (infra/demo_world.py): places, organizations, producers,
products with their first price, a few certifications and La Paz reference prices.

Rows keep the world's stable ids and are inserted with ON CONFLICT DO NOTHING, so loading twice
changes nothing. The same path is the bulk path for `--scale` (10k producers, 100k products):
executemany in batches, one INSERT ... SELECT for the first prices.
"""

from datetime import timedelta

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from services.catalog.models import (
    Certification,
    CertificationChange,
    Municipality,
    Organization,
    PriceChange,
    Producer,
    Product,
    ReferencePrice,
)
from services.catalog.text import fold
from services.common import clock
from services.common.db import Database
from services.common.tables import insert_ignoring_conflict, utcnow

BATCH = 5000

# Deterministic demo certifications: (id, organization id, kind, issuer, categories)
CERTIFICATIONS = [
    (1, 1, "ecologico_sgp", "Comité Ecológico Municipal de Achocalla", ["hortalizas", "tuberculos"]),
    (2, 2, "comercio_justo", "Fairtrade (FLOCERT)", ["cafe"]),
    (3, 2, "organico", "Bolicert", []),
    (4, 4, "organico", "IMO Bolivia", ["cacao"]),
]
# (id, category or None, product name or None, unit, price in centavos): reference prices of La Paz,
# in force since a year before the demo day (so every demo period is judged against them)
REFERENCE_PRICES = [
    (1, "tuberculos", None, "arroba", 5500),
    (2, None, "Papa huaycha", "arroba", 6000),
    (3, "hortalizas", None, "kg", 700),
    (4, None, "Quinua real", "kg", 2100),
    (5, None, "Plátano", "docena", 1000),
]


async def _insert(session: AsyncSession, model, rows: list[dict]) -> None:
    table = model.__table__
    for start in range(0, len(rows), BATCH):
        await session.execute(insert_ignoring_conflict(session, table), rows[start:start + BATCH])


def _jitter(n: int) -> float:
    return ((n * 37) % 101 - 50) / 2500


async def load_demo(db: Database, world) -> None:
    now = utcnow()
    places = {m.code: m for m in world.municipalities}
    async with db.session() as session:
        await _insert(session, Municipality, [
            {"code": m.code, "name": m.name, "province": m.province, "department": m.department,
             "lat": m.lat, "lon": m.lon, "created_at": now} for m in world.municipalities])
        await _insert(session, Organization, [
            {"id": o.id, "name": o.name, "legal_form": o.legal_form, "nit": o.nit,
             "legal_papers": list(o.legal_papers), "maturity": o.maturity,
             "value_chain_stage": o.value_chain_stage, "municipality_code": o.municipality_code,
             "member_count": o.members, "women_count": o.women_members, "phone": o.phone, "whatsapp": o.phone,
             "created_at": now} for o in world.organizations])
        await _insert(session, Producer, [
            {"id": p.id, "name": p.name, "gender": p.gender, "phone": p.phone, "community": p.community,
             "municipality_code": p.municipality_code, "organization_id": p.organization_id,
             "lat": round(places[p.municipality_code].lat + _jitter(p.id), 5),
             "lon": round(places[p.municipality_code].lon + _jitter(p.id * 7), 5), "created_at": now}
            for p in world.producers])
        await _insert(session, Product, [
            {"id": p.id, "producer_id": p.producer_id, "name": p.name, "search_name": fold(p.name),
             "category": p.category, "description": p.description or None, "unit": p.unit,
             "price_centavos": p.price_centavos, "available": p.stock, "reserved": 0, "sold": 0,
             "min_order_quantity": p.min_order, "case_size": p.case_size, "active": True,
             "created_at": now, "updated_at": now} for p in world.products])
        # every product's first price, once
        price_changes, products = PriceChange.__table__, Product.__table__
        await session.execute(price_changes.insert().from_select(
            ["product_id", "price_centavos", "unit", "changed_at"],
            select(products.c.id, products.c.price_centavos, products.c.unit, products.c.created_at)
            .where(~select(price_changes.c.id).where(price_changes.c.product_id == products.c.id).exists())))

        org_ids = {o.id for o in world.organizations}
        valid_until = utcnow().date() + timedelta(days=365)
        certs = [c for c in CERTIFICATIONS if c[1] in org_ids]
        await _insert(session, Certification, [
            {"id": cid, "organization_id": org, "kind": kind, "status": "certificado", "issuer": issuer,
             "valid_until": valid_until, "categories": cats, "created_at": now, "updated_at": now}
            for cid, org, kind, issuer, cats in certs])
        await _insert(session, CertificationChange, [
            {"id": cid, "certification_id": cid, "status": "certificado", "valid_until": valid_until,
             "note": "demo", "changed_at": now} for cid, *_ in certs])
        if "020101" in places:
            await _insert(session, ReferencePrice, [
                {"id": rid, "municipality_code": "020101", "category": cat, "product_name": name,
                 "search_name": fold(name) if name else None, "unit": unit, "price_centavos": price,
                 "valid_from": clock.today() - timedelta(days=365), "created_at": now}
                for rid, cat, name, unit, price in REFERENCE_PRICES])
        if session.bind.dialect.name == "postgresql":
            for model in (Organization, Producer, Product, Certification, CertificationChange, ReferencePrice,
                          PriceChange):
                table = model.__table__.name
                top = (await session.execute(select(func.max(model.__table__.c.id)))).scalar()
                if top:
                    await session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), :top)"),
                                          {"top": top})
