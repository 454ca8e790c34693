"""Monitoring figures: the services' aggregates composed into one report for a territory and period.

Pure functions over plain records (what `gateway.monitoring.sources` fetched and read): no I/O, so
a test can feed records and compare with its own arithmetic. Money stays in integer centavos until
the JSON shape (decimal strings in bolivianos); shares are percentages with one decimal, half-up.

- producers: registered in the territory (catalog), and active = sold at least once in the period
  (orders), both by gender with the women's share;
- supply: offered by the territory's producers (catalog, today's stock at the asking price), sold by
  them (orders, at the price paid, in the period), and delivered at the territory's delivery points
  (orders, in the period: what reached its markets, wherever it was grown), by category and product;
- fair-price index: average price paid at the territory's points over the municipality's reference
  price valid on the period's last day (`Sources.references_on`; references are market prices of
  the place where the sale happens), times 100 (100 = paid exactly the reference), per product and
  weighted by value sold for the territory.
"""

import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from services.common.disclosure import suppress_small_groups
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


def fold(text: str | None) -> str:
    """Product names compared without accents, case or extra spaces (as the catalog folds them)."""
    bare = "".join(ch for ch in unicodedata.normalize("NFKD", text or "") if not unicodedata.combining(ch))
    return " ".join(bare.casefold().split())


def share(part: int | Decimal, whole: int | Decimal) -> Decimal | None:
    """`part` as a percentage of `whole`, one decimal, half-up; None when there is no whole."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def qty(value: Decimal) -> str:
    return f"{Decimal(value).quantize(Decimal('0.001')).normalize():f}"


def bs(centavos: int) -> str:
    return f"{from_centavos(int(centavos)):.2f}"


def pct(value: Decimal | None) -> str | None:
    return None if value is None else f"{value}"


@dataclass
class Offer:
    """Today's offer of one product kind in the territory (catalog)."""

    category: str
    product: str
    unit: str
    quantity: Decimal
    value: int  # centavos at the asking price
    average_price: int | None = None  # centavos per unit
    producers: int = 0  # how many producers offer it


@dataclass
class Sale:
    """What sold of one product kind in the period (orders), and where: `municipality_code` is the
    producers' municipality for supply figures, the delivery point's for market figures."""

    municipality_code: str
    category: str
    product: str
    unit: str
    quantity: Decimal
    value: int  # centavos at the price paid
    point_id: int | None = None
    producers: int = 0  # how many producers sold it (in this municipality, at this point)


@dataclass
class Reference:
    """A municipality's reference price for a product name or a whole category, in a unit."""

    municipality_code: str
    category: str | None
    product: str | None
    unit: str
    price: int  # centavos per unit
    offered_average: int | None = None  # today's average asking price there (catalog)
    band_min: int | None = None  # centavos: the least a producer should be paid
    band_max: int | None = None  # centavos: the most a consumer should pay


@dataclass
class PointLine:
    point_id: int
    name: str
    municipality_code: str
    lat: float | None = None
    lon: float | None = None
    orders: int = 0
    picked_up: int = 0
    no_shows: int = 0
    waitlisted: int = 0  # orders waiting for a slot: never counted in `orders`


@dataclass
class Sources:
    """Everything the report is made of, already limited to the territory and period."""

    registered_by_gender: dict[str, int] = field(default_factory=dict)
    active_by_gender: dict[str, int] = field(default_factory=dict)
    organizations_by_form: dict[str, int] = field(default_factory=dict)
    organizations_by_maturity: dict[str, int] = field(default_factory=dict)
    organization_members: int = 0
    organization_women: int = 0
    offers: list[Offer] = field(default_factory=list)
    sales: list[Sale] = field(default_factory=list)  # sold by the territory's producers
    market: list[Sale] = field(default_factory=list)  # delivered at the territory's points
    references: list[Reference] = field(default_factory=list)  # those valid on `references_on`
    references_on: date | None = None
    orders: int = 0
    waitlisted_orders: int = 0  # waiting for a slot at a full point: not sales
    points: list[PointLine] = field(default_factory=list)
    advances: dict = field(default_factory=dict)  # {count, value, fees, women_value, women_producers, producers}
    warnings: list[str] = field(default_factory=list)


def gender_figures(by_gender: dict[str, int]) -> dict:
    counts = dict.fromkeys(GENDERS, 0)
    for gender, n in by_gender.items():
        counts[normal_gender(gender)] += int(n)
    total = sum(counts.values())
    return {"total": total, "women": counts["femenino"], "men": counts["masculino"], "other": counts["otro"],
            "women_share": pct(share(counts["femenino"], total))}


def producer_figures(sources: Sources) -> dict:
    return {"registered": gender_figures(sources.registered_by_gender),
            "active": gender_figures(sources.active_by_gender),
            "note": "activos = con al menos una venta en el periodo"}


def organization_figures(sources: Sources) -> dict:
    by_form = {k: v for k, v in sources.organizations_by_form.items() if v}
    by_maturity = {k: v for k, v in sources.organizations_by_maturity.items() if v}
    maturity_order = [*MATURITY_LABELS, *sorted(set(by_maturity) - set(MATURITY_LABELS))]
    return {
        "total": sum(by_form.values()),
        "members": sources.organization_members, "women_members": sources.organization_women,
        "women_members_share": pct(share(sources.organization_women, sources.organization_members)),
        "by_legal_form": [{"legal_form": k, "label": LEGAL_FORM_LABELS.get(k, k), "count": v}
                          for k, v in sorted(by_form.items(), key=lambda kv: (-kv[1], kv[0]))],
        "by_maturity": [{"maturity": k, "label": MATURITY_LABELS.get(k, k), "count": by_maturity[k]}
                        for k in maturity_order if k in by_maturity],
    }


def _key(category: str | None, product: str, unit: str) -> tuple[str, str, str]:
    return (category or "", fold(product), unit)


def supply_figures(sources: Sources) -> dict:
    """Offered and sold by product (category, name, unit) and by category (values only: units differ)."""
    rows: dict[tuple, dict] = {}

    def row(category: str, product: str, unit: str) -> dict:
        return rows.setdefault(_key(category, product, unit), {
            "category": category, "product": product, "unit": unit, "offered_quantity": Decimal(0),
            "offered_value": 0, "sold_quantity": Decimal(0), "sold_value": 0, "delivered_quantity": Decimal(0),
            "delivered_value": 0, "producers": 0})

    for o in sources.offers:
        r = row(o.category, o.product, o.unit)
        r["offered_quantity"] += o.quantity
        r["offered_value"] += o.value
        r["producers"] = max(r["producers"], o.producers)
    for s in sources.sales:
        r = row(s.category, s.product, s.unit)
        r["sold_quantity"] += s.quantity
        r["sold_value"] += s.value
        r["producers"] = max(r["producers"], s.producers)
    for s in sources.market:
        r = row(s.category, s.product, s.unit)
        r["delivered_quantity"] += s.quantity
        r["delivered_value"] += s.value
        r["producers"] = max(r["producers"], s.producers)
    by_category: dict[str, dict] = {}
    for r in rows.values():
        c = by_category.setdefault(r["category"], {"category": r["category"], "offered": 0, "sold": 0,
                                                   "delivered": 0, "products": 0, "producers": 0})
        c["offered"] += r["offered_value"]
        c["sold"] += r["sold_value"]
        c["delivered"] += r["delivered_value"]
        c["products"] += 1
        c["producers"] = max(c["producers"], r["producers"])
    products = [{**r, "offered_quantity": qty(r["offered_quantity"]), "offered_value": bs(r["offered_value"]),
                 "sold_quantity": qty(r["sold_quantity"]), "sold_value": bs(r["sold_value"]),
                 "delivered_quantity": qty(r["delivered_quantity"]), "delivered_value": bs(r["delivered_value"])}
                for r in sorted(rows.values(), key=lambda r: (r["category"], fold(r["product"]), r["unit"]))]
    categories = [{"category": c["category"], "label": CATEGORY_LABELS.get(c["category"], c["category"] or "—"),
                   "products": c["products"], "offered_value": bs(c["offered"]), "sold_value": bs(c["sold"]),
                   "delivered_value": bs(c["delivered"]), "producers": c["producers"]}
                  for c in sorted(by_category.values(),
                                  key=lambda c: (-c["offered"], -c["delivered"], -c["sold"], c["category"]))]
    return {"offered_value": bs(sum(o.value for o in sources.offers)),
            "sold_value": bs(sum(s.value for s in sources.sales)),
            "delivered_value": bs(sum(s.value for s in sources.market)),
            "by_category": categories, "by_product": products,
            "note": "ofertado = stock disponible hoy de productores del territorio, a precio de oferta; "
                    "vendido = lo que esos productores vendieron en el periodo, al precio pagado; "
                    "entregado = lo vendido en los puntos de entrega del territorio en el periodo"}


def reference_for(sale: Sale, references: list[Reference]) -> Reference | None:
    """The reference of the sale's municipality: for its product name, else for its category (same unit)."""
    by_name = by_category = None
    for ref in references:
        if ref.municipality_code != sale.municipality_code or ref.unit != sale.unit:
            continue
        if ref.product and fold(ref.product) == fold(sale.product):
            by_name = ref
        elif not ref.product and ref.category == sale.category:
            by_category = ref
    return by_name or by_category


def _round_div(num: Decimal, den: Decimal) -> int:
    return int((num / den).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def price_figures(sources: Sources) -> dict:
    """Average price paid against the reference per product, and the territory's index."""
    groups: dict[tuple, dict] = {}
    paid_total = 0
    at_reference = Decimal(0)
    for sale in sources.market:
        ref = reference_for(sale, sources.references)
        if ref is None or not sale.quantity or not ref.price:
            continue
        g = groups.setdefault(_key(sale.category, sale.product, sale.unit), {
            "category": sale.category, "product": sale.product, "unit": sale.unit, "quantity": Decimal(0),
            "value": 0, "at_reference": Decimal(0), "offered": [], "producers": 0})
        g["producers"] = max(g["producers"], sale.producers)
        g["quantity"] += sale.quantity
        g["value"] += sale.value
        g["at_reference"] += sale.quantity * ref.price
        if ref.offered_average:
            g["offered"].append(ref.offered_average)
        paid_total += sale.value
        at_reference += sale.quantity * ref.price
    items = []
    for g in sorted(groups.values(), key=lambda g: (g["category"], fold(g["product"]), g["unit"])):
        average = _round_div(Decimal(g["value"]), g["quantity"])
        reference = _round_div(g["at_reference"], g["quantity"])
        index = (Decimal(g["value"]) * 100 / g["at_reference"]).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
        offered = _round_div(Decimal(sum(g["offered"])), Decimal(len(g["offered"]))) if g["offered"] else None
        items.append({"category": g["category"], "product": g["product"], "unit": g["unit"],
                      "quantity_sold": qty(g["quantity"]), "average_paid": bs(average), "reference": bs(reference),
                      "average_offered": bs(offered) if offered is not None else None, "index": f"{index}",
                      "producers": g["producers"]})
    index = None
    if at_reference:
        index = (Decimal(paid_total) * 100 / at_reference).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    offered_vs_reference = [
        {"municipality_code": r.municipality_code, "category": r.category, "product": r.product, "unit": r.unit,
         "reference": bs(r.price), "band_min": bs(r.band_min) if r.band_min is not None else None,
         "band_max": bs(r.band_max) if r.band_max is not None else None,
         "average_offered": bs(r.offered_average) if r.offered_average else None}
        for r in sources.references]
    return {"fair_price_index": pct(index), "items": items, "offered_vs_reference": offered_vs_reference,
            "references_on": sources.references_on.isoformat() if sources.references_on else None,
            "note": "índice = precio medio pagado en los puntos del territorio / precio de referencia del "
                    "municipio vigente el último día del periodo (o hoy) × 100, ponderado por lo vendido "
                    "(100 = se pagó la referencia)"}


def point_figures(points: list[PointLine]) -> list[dict]:
    return [{"point_id": p.point_id, "name": p.name, "municipality_code": p.municipality_code,
             "lat": p.lat, "lon": p.lon, "orders": p.orders, "picked_up": p.picked_up, "no_shows": p.no_shows,
             "no_show_share": pct(share(p.no_shows, p.orders)), "waitlisted": p.waitlisted}
            for p in sorted(points, key=lambda p: (-p.orders, p.name, p.point_id))]


def advance_figures(raw: dict) -> dict:
    count, value, fees = int(raw.get("count", 0)), int(raw.get("value", 0)), int(raw.get("fees", 0))
    women_value = int(raw.get("women_value", 0))
    producers, women_producers = int(raw.get("producers", 0)), int(raw.get("women_producers", 0))
    return {"count": count, "value": bs(value), "fees": bs(fees), "producers": producers,
            "women_producers": women_producers, "women_value": bs(women_value),
            "women_share_value": pct(share(women_value, value)),
            "women_share_producers": pct(share(women_producers, producers))}


def kg_sold(sales: list[Sale]) -> Decimal:
    """Weight sold where the unit says it (kg, libra, arroba, quintal, g); other units are left out."""
    from services.common.units import Unit, kg_of

    total = Decimal(0)
    for s in sales:
        try:
            kg = kg_of(s.quantity, Unit(s.unit))
        except ValueError:
            kg = None
        total += kg or 0
    return total


def program_report(sources: Sources) -> dict:
    """The figures public programmes publish: reach, inclusion, volume and value sold."""
    registered = gender_figures(sources.registered_by_gender)
    active = gender_figures(sources.active_by_gender)
    reached = sorted({s.municipality_code for s in sources.sales if s.municipality_code and s.quantity > 0})
    return {
        "producers": registered["total"],
        "women_producers": registered["women"],
        "women_share": registered["women_share"],
        "active_producers": active["total"],
        "active_women_share": active["women_share"],
        "organizations": sum(sources.organizations_by_form.values()),
        "municipalities_reached": len(reached),
        "volume_sold_kg": qty(kg_sold(sources.sales)),
        "value_sold": bs(sum(s.value for s in sources.sales)),
        "value_delivered_in_territory": bs(sum(s.value for s in sources.market)),
        "orders": sources.orders,
        "waitlisted_orders": sources.waitlisted_orders,
        "advances_value": bs(int(sources.advances.get("value", 0))),
    }


def full_report(sources: Sources, *, scope: dict) -> dict:
    return {
        "scope": scope,
        "producers": producer_figures(sources),
        "organizations": organization_figures(sources),
        "supply": supply_figures(sources),
        "prices": price_figures(sources),
        "delivery_points": point_figures(sources.points),
        "advances": advance_figures(sources.advances),
        "program": program_report(sources),
        "warnings": sources.warnings,
    }


def suppressed_for_municipalities(report: dict) -> dict:
    """The report as a municipality may read it: no product, category or price row of fewer than 3
    producers (a row's count is the largest of the services' counts for it: never more than the
    truth, so a row is rather suppressed than shown), and no advance amount of fewer than 3."""
    supply, prices = report["supply"], report["prices"]
    supply["by_product"] = suppress_small_groups(supply["by_product"], key="producers")
    supply["by_category"] = suppress_small_groups(supply["by_category"], key="producers")
    prices["items"] = suppress_small_groups(prices["items"], key="producers")
    advances = report["advances"]
    [advances] = suppress_small_groups([advances], key="producers", figures=("value", "fees", "women_share_value"))
    [advances] = suppress_small_groups([advances], key="women_producers", figures=("women_value",
                                                                                   "women_share_value"))
    report["advances"] = advances
    report["program"]["advances_value"] = advances["value"]
    return report


def sum_by_gender(rows: list[dict]) -> dict[str, int]:
    total: dict[str, int] = defaultdict(int)
    for row in rows:
        for gender, n in row.items():
            total[gender] += int(n)
    return dict(total)
