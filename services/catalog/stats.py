"""Supply figures for municipal monitoring (the gateway's monitoring API composes them).

Aggregates only: counts, quantities, values and prices for a municipality, a department or the
whole country. No person's name or phone ever appears here, and a municipality asking directly gets
no offer or price figure of a group of fewer than 3 producers (`services.common.disclosure`).
"""

from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.catalog.models import (
    CATEGORY_LABELS,
    Category,
    Gender,
    LegalForm,
    Maturity,
    Municipality,
    Organization,
    Producer,
    Product,
    ReferencePrice,
    ValueChainStage,
)
from services.catalog.reference_prices import kind_of, valid_on
from services.common import clock
from services.common.auth import Principal
from services.common.disclosure import suppress_for
from services.common.errors import InvalidInput, NotFound
from services.common.money import from_centavos
from services.common.units import quantity_text

TOP_PRODUCTS = 100


def _bs(centavos) -> str:
    return f"{from_centavos(int(Decimal(str(centavos or 0)).quantize(Decimal(1)))):.2f}"


def _scope(query, municipality_column, municipality: str | None, department: str | None):
    if municipality:
        query = query.where(municipality_column == municipality)
    if department:
        query = query.where(municipality_column.in_(
            select(Municipality.code).where(Municipality.department == department)))
    return query


async def supply_stats(*, session: AsyncSession, municipality: str | None, department: str | None,
                       on: date | None = None, caller: Principal | None = None) -> dict:
    """The territory's producers, organizations and today's offer, and the reference prices valid on
    `on` (today when not given) against today's asking prices."""
    if municipality and department:
        raise InvalidInput("ask for a municipality or a department, not both", code="invalid_scope")
    if municipality and await session.get(Municipality, municipality) is None:
        raise NotFound(f"municipality {municipality} does not exist", code="municipality_not_found")

    gender_rows = (await session.execute(_scope(
        select(Producer.gender, func.count()).group_by(Producer.gender),
        Producer.municipality_code, municipality, department))).all()
    genders = {g.value: 0 for g in Gender} | {g: n for g, n in gender_rows}
    total_producers = sum(genders.values())

    org_rows = (await session.execute(_scope(
        select(Organization.legal_form, Organization.maturity, Organization.value_chain_stage, func.count(),
               func.coalesce(func.sum(Organization.member_count), 0),
               func.coalesce(func.sum(Organization.women_count), 0))
        .group_by(Organization.legal_form, Organization.maturity, Organization.value_chain_stage),
        Organization.municipality_code, municipality, department))).all()
    by_form = {f.value: 0 for f in LegalForm}
    by_maturity = {m.value: 0 for m in Maturity}
    by_stage = {s.value: 0 for s in ValueChainStage}
    members = women_members = 0
    for form, maturity, stage, count, m, w in org_rows:
        by_form[form] = by_form.get(form, 0) + count
        by_maturity[maturity] = by_maturity.get(maturity, 0) + count
        by_stage[stage] = by_stage.get(stage, 0) + count
        members += int(m)
        women_members += int(w)

    value = Product.available * Product.price_centavos
    offer_base = select().select_from(Product).join(Producer, Producer.id == Product.producer_id) \
        .where(Product.active.is_(True))
    offer_base = _scope(offer_base, Producer.municipality_code, municipality, department)
    category_rows = (await session.execute(offer_base.add_columns(
        Product.category, Product.unit, func.count(), func.count(func.distinct(Product.producer_id)),
        func.sum(Product.available), func.sum(value))
        .group_by(Product.category, Product.unit).order_by(Product.category, Product.unit))).all()
    by_category = []
    for category, unit, count, producers, quantity, val in category_rows:
        by_category.append({"category": category, "label": CATEGORY_LABELS.get(Category(category), category),
                            "unit": unit, "products": count, "producers": producers,
                            "available": quantity_text(quantity or 0), "value": _bs(val)})

    product_rows = (await session.execute(offer_base.add_columns(
        Product.category, func.min(Product.name), Product.unit, func.count(),
        func.count(func.distinct(Product.producer_id)), func.sum(Product.available), func.sum(value),
        func.min(Product.price_centavos), func.avg(Product.price_centavos), func.max(Product.price_centavos))
        .group_by(Product.category, Product.search_name, Product.unit)
        .order_by(func.sum(value).desc(), Product.search_name).limit(TOP_PRODUCTS))).all()
    by_product = [{
        "category": category, "product": name, "unit": unit, "products": count, "producers": producers,
        "available": quantity_text(quantity or 0), "value": _bs(val), "min_price": _bs(low), "avg_price": _bs(avg),
        "max_price": _bs(high)} for category, name, unit, count, producers, quantity, val, low, avg, high
        in product_rows]

    on = on or clock.today()
    prices = await _reference_comparison(session, municipality, department, on)
    by_category = suppress_for(caller, by_category, key="producers")
    by_product = suppress_for(caller, by_product, key="producers")
    prices = suppress_for(caller, prices, key="producers", figures=(
        "offers", "current_min", "current_avg", "current_max", "avg_vs_reference_percent"))
    return {
        "scope": {"municipality": municipality, "department": department, "prices_on": on.isoformat()},
        "producers": {"total": total_producers, "by_gender": genders,
                      "women_share": round(genders["female"] / total_producers, 4) if total_producers else None},
        "organizations": {"total": sum(by_form.values()), "by_legal_form": by_form, "by_maturity": by_maturity,
                          "by_value_chain_stage": by_stage, "members": members, "women_members": women_members},
        "offer": {"by_category": by_category, "by_product": by_product},
        "prices": prices,
    }


async def _reference_comparison(session: AsyncSession, municipality: str | None, department: str | None,
                                on: date) -> list:
    """The reference price valid on `on` per (municipality, product or category, unit) against today's
    offer there."""
    refs = (await session.execute(_scope(
        valid_on(select(ReferencePrice), on).order_by(ReferencePrice.valid_from, ReferencePrice.id),
        ReferencePrice.municipality_code, municipality, department))).scalars().all()
    latest = {kind_of(ref): ref for ref in refs}  # one per kind by construction; the later wins otherwise
    out = []
    for ref in latest.values():
        query = (select(func.count(), func.count(func.distinct(Product.producer_id)), func.min(Product.price_centavos),
                        func.avg(Product.price_centavos), func.max(Product.price_centavos))
                 .join(Producer, Producer.id == Product.producer_id)
                 .where(Product.active.is_(True), Product.unit == ref.unit,
                        Producer.municipality_code == ref.municipality_code))
        if ref.search_name:
            query = query.where(Product.search_name == ref.search_name)
        else:
            query = query.where(Product.category == ref.category)
        count, producers, low, avg, high = (await session.execute(query)).one()
        gap = None
        if count and ref.price_centavos:
            gap = float(round((Decimal(str(avg)) - ref.price_centavos) / ref.price_centavos * 100, 1))
        out.append({"municipality_code": ref.municipality_code, "category": ref.category,
                    "product": ref.product_name, "unit": ref.unit, "reference_price": _bs(ref.price_centavos),
                    "band_min": _bs(ref.band_min_centavos) if ref.band_min_centavos is not None else None,
                    "band_max": _bs(ref.band_max_centavos) if ref.band_max_centavos is not None else None,
                    "valid_from": ref.valid_from.isoformat(),
                    "valid_to": ref.valid_to.isoformat() if ref.valid_to else None, "offers": count, "producers": producers,
                    "current_min": _bs(low) if count else None, "current_avg": _bs(avg) if count else None,
                    "current_max": _bs(high) if count else None, "avg_vs_reference_percent": gap})
    return sorted(out, key=lambda r: (r["municipality_code"], r["category"] or "", r["product"] or "", r["unit"]))
