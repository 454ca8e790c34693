"""Monitoring figures: the services' aggregates composed into one report for a territory and period.

Pure functions over plain records (what `gateway.monitoring.sources` fetched and normalised): no
I/O, so a test can feed raw records and compare. Money stays in integer centavos until the JSON
shape; shares are percentages with one decimal, rounded half-up; the fair-price index is the average
price paid over the reference price, times 100 (100 = paid exactly the reference).
"""

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from services.common.money import from_centavos

CATEGORY_LABELS = {
    "hortalizas": "Hortalizas", "tuberculos": "Tubérculos", "frutas": "Frutas",
    "granos_andinos": "Granos andinos", "lacteos": "Lácteos", "cafe": "Café", "cacao": "Cacao",
    "miel": "Miel", "castana": "Castaña", "carnes": "Carnes", "procesados": "Procesados",
}
LEGAL_FORM_LABELS = {
    "cooperativa": "Cooperativa", "asociacion": "Asociación", "oeca": "OECA", "coraca": "CORACA",
    "empresa_comunitaria": "Empresa comunitaria", "otra": "Otra",
}
MATURITY_LABELS = {"embrionaria": "Embrionaria", "en_consolidacion": "En consolidación",
                   "consolidada": "Consolidada"}
GENDERS = ("femenino", "masculino", "otro")
_GENDER_ALIASES = {"female": "femenino", "f": "femenino", "mujer": "femenino", "femenino": "femenino",
                   "male": "masculino", "m": "masculino", "hombre": "masculino", "masculino": "masculino"}


def normal_gender(value: str | None) -> str:
    return _GENDER_ALIASES.get((value or "").strip().lower(), "otro")


def share(part: int | Decimal, whole: int | Decimal) -> Decimal | None:
    """`part` as a percentage of `whole`, one decimal, half-up; None when there is no whole."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def qty(value: Decimal) -> str:
    return f"{Decimal(value).quantize(Decimal('0.001')).normalize():f}"


def bs(centavos: int) -> str:
    return f"{from_centavos(centavos):.2f}"


@dataclass
class SupplyLine:
    """One product kind (category, name, unit) in the territory: what was offered and what sold."""

    category: str
    product: str
    unit: str
    offered_quantity: Decimal = Decimal(0)
    offered_value: int = 0  # centavos, at the asking price
    sold_quantity: Decimal = Decimal(0)
    sold_value: int = 0  # centavos, at the price paid
    reference_price: int | None = None  # centavos per unit, the municipality's reference


@dataclass
class PointLine:
    point_id: int
    name: str
    municipality_code: str
    lat: float | None
    lon: float | None
    orders: int = 0
    picked_up: int = 0
    no_shows: int = 0


@dataclass
class Sources:
    """Everything the report is made of, already scoped to the territory and period."""

    producers_by_gender: dict[str, int] = field(default_factory=dict)
    organizations: list[dict] = field(default_factory=list)  # {legal_form, maturity, count, members, women}
    supply: list[SupplyLine] = field(default_factory=list)
    points: list[PointLine] = field(default_factory=list)
    advances: dict = field(default_factory=dict)  # {count, value, fees, women_count, women_value}
    municipalities_reached: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def producer_figures(by_gender: dict[str, int]) -> dict:
    counts = dict.fromkeys(GENDERS, 0)
    for gender, n in by_gender.items():
        counts[normal_gender(gender)] += int(n)
    total = sum(counts.values())
    return {"active": total, "women": counts["femenino"], "men": counts["masculino"],
            "other": counts["otro"], "women_share": _pct(share(counts["femenino"], total))}


def organization_figures(rows: list[dict]) -> dict:
    by_form: dict[str, int] = defaultdict(int)
    by_maturity: dict[str, int] = defaultdict(int)
    matrix: dict[tuple[str, str], int] = defaultdict(int)
    members = women = 0
    for row in rows:
        n = int(row.get("count", 1))
        by_form[row["legal_form"]] += n
        by_maturity[row["maturity"]] += n
        matrix[(row["legal_form"], row["maturity"])] += n
        members += int(row.get("members") or 0)
        women += int(row.get("women") or 0)
    return {
        "total": sum(by_form.values()),
        "members": members, "women_members": women, "women_members_share": _pct(share(women, members)),
        "by_legal_form": [{"legal_form": k, "label": LEGAL_FORM_LABELS.get(k, k), "count": v}
                          for k, v in sorted(by_form.items(), key=lambda kv: (-kv[1], kv[0]))],
        "by_maturity": [{"maturity": k, "label": MATURITY_LABELS.get(k, k), "count": by_maturity[k]}
                        for k in [*MATURITY_LABELS, *sorted(set(by_maturity) - set(MATURITY_LABELS))]
                        if by_maturity.get(k)],
        "by_legal_form_and_maturity": [{"legal_form": f, "maturity": m, "count": n}
                                       for (f, m), n in sorted(matrix.items())],
    }


def supply_figures(lines: list[SupplyLine]) -> dict:
    by_category: dict[str, dict] = {}
    products = []
    for line in sorted(lines, key=lambda x: (x.category, x.product, x.unit)):
        cat = by_category.setdefault(line.category, {
            "category": line.category, "label": CATEGORY_LABELS.get(line.category, line.category),
            "offered_value_c": 0, "sold_value_c": 0, "products": 0})
        cat["offered_value_c"] += line.offered_value
        cat["sold_value_c"] += line.sold_value
        cat["products"] += 1
        products.append({
            "category": line.category, "product": line.product, "unit": line.unit,
            "offered_quantity": qty(line.offered_quantity), "offered_value": bs(line.offered_value),
            "sold_quantity": qty(line.sold_quantity), "sold_value": bs(line.sold_value),
        })
    categories = [{"category": c["category"], "label": c["label"], "products": c["products"],
                   "offered_value": bs(c["offered_value_c"]), "sold_value": bs(c["sold_value_c"])}
                  for c in sorted(by_category.values(), key=lambda c: (-c["offered_value_c"], c["category"]))]
    return {"offered_value": bs(sum(x.offered_value for x in lines)),
            "sold_value": bs(sum(x.sold_value for x in lines)),
            "by_category": categories, "by_product": products}


def average_price(line: SupplyLine) -> int | None:
    """Average price paid per unit in centavos (half-up), or None when nothing sold."""
    if not line.sold_quantity:
        return None
    return int((Decimal(line.sold_value) / line.sold_quantity).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def price_figures(lines: list[SupplyLine]) -> dict:
    """Average price paid against the reference, per product, and one index weighted by value sold."""
    items = []
    paid_total = 0
    at_reference = Decimal(0)
    for line in sorted(lines, key=lambda x: (x.category, x.product, x.unit)):
        avg = average_price(line)
        if avg is None or not line.reference_price:
            continue
        index = (Decimal(avg) * 100 / line.reference_price).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
        items.append({"category": line.category, "product": line.product, "unit": line.unit,
                      "average_paid": bs(avg), "reference": bs(line.reference_price), "index": f"{index}"})
        paid_total += line.sold_value
        at_reference += line.sold_quantity * line.reference_price
    index = None
    if at_reference:
        index = (Decimal(paid_total) * 100 / at_reference).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return {"fair_price_index": _pct(index), "items": items,
            "note": "índice = precio medio pagado / precio de referencia × 100, ponderado por el valor vendido"}


def point_figures(points: list[PointLine]) -> list[dict]:
    return [{"point_id": p.point_id, "name": p.name, "municipality_code": p.municipality_code,
             "lat": p.lat, "lon": p.lon, "orders": p.orders, "picked_up": p.picked_up, "no_shows": p.no_shows,
             "no_show_share": _pct(share(p.no_shows, p.orders))}
            for p in sorted(points, key=lambda p: (-p.orders, p.name))]


def advance_figures(raw: dict) -> dict:
    count, value, fees = int(raw.get("count", 0)), int(raw.get("value", 0)), int(raw.get("fees", 0))
    women_count, women_value = int(raw.get("women_count", 0)), int(raw.get("women_value", 0))
    return {"count": count, "value": bs(value), "fees": bs(fees), "women_count": women_count,
            "women_value": bs(women_value), "women_share_count": _pct(share(women_count, count)),
            "women_share_value": _pct(share(women_value, value))}


def program_report(sources: Sources) -> dict:
    """The figures public programmes publish: reach, inclusion, volume and value sold."""
    producers = producer_figures(sources.producers_by_gender)
    kg_sold = Decimal(0)
    from services.common.units import Unit, kg_of

    for line in sources.supply:
        try:
            kg = kg_of(line.sold_quantity, Unit(line.unit))
        except ValueError:
            kg = None
        kg_sold += kg or 0
    return {
        "producers": producers["active"],
        "women_producers": producers["women"],
        "women_share": producers["women_share"],
        "organizations": sum(int(r.get("count", 1)) for r in sources.organizations),
        "municipalities_reached": len(set(sources.municipalities_reached)),
        "volume_sold_kg": qty(kg_sold),
        "value_sold": bs(sum(x.sold_value for x in sources.supply)),
        "orders": sum(p.orders for p in sources.points),
        "advances_value": bs(int(sources.advances.get("value", 0))),
    }


def full_report(sources: Sources, *, scope: dict) -> dict:
    return {
        "scope": scope,
        "producers": producer_figures(sources.producers_by_gender),
        "organizations": organization_figures(sources.organizations),
        "supply": supply_figures(sources.supply),
        "prices": price_figures(sources.supply),
        "delivery_points": point_figures(sources.points),
        "advances": advance_figures(sources.advances),
        "program": program_report(sources),
        "warnings": sources.warnings,
    }


def _pct(value: Decimal | None) -> str | None:
    return None if value is None else f"{value}"
