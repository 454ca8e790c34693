"""Which price breaks which fair band: plain functions over the catalog's answers.

A sale is judged in the municipality of its delivery point (where it happens, as for the fair-price
index), an offer in its producer's municipality (as `/stats/supply` compares offers); each against
the reference of that municipality valid today, for its product
name, else for its category, in the same unit (the same matching as the fair-price index:
`gateway.monitoring.figures.reference_for`)."""

import hashlib
from dataclasses import dataclass
from decimal import Decimal

from gateway.monitoring.figures import CATEGORY_LABELS, Reference, Sale, reference_for
from gateway.monitoring.sources import cents

BELOW_MIN = "below_min"
ABOVE_MAX = "above_max"


@dataclass(frozen=True)
class Finding:
    """A price outside a band, before it is kept as an alert."""

    key: str
    kind: str
    municipality_code: str
    product: str
    unit: str
    price: int  # centavos per unit
    reference: Reference
    producer_id: int | None = None
    organization_id: int | None = None
    order_id: int | None = None


def references_from(rows: list[dict]) -> list[Reference]:
    """The catalog's `/reference-prices` items as the monitoring's references."""
    return [Reference(municipality_code=r["municipality_code"], category=r.get("category"),
                      product=r.get("product_name"), unit=r["unit"], price=cents(r["price"]),
                      band_min=cents(r["band_min"]) if r.get("band_min") else None,
                      band_max=cents(r["band_max"]) if r.get("band_max") else None) for r in rows]


def sale_below_band(*, line: dict, product: dict, municipality_code: str, order_id,
                    references: list[Reference]) -> Finding | None:
    """An `order.placed` line sold below the minimum of the band of `municipality_code`, where the sale
    happens (its delivery point's municipality, as for the fair-price index)."""
    try:
        price = cents(line.get("unit_price"))
    except ArithmeticError:  # not an amount (decimal.InvalidOperation): nothing to judge
        return None
    if not line.get("unit_price"):
        return None
    sale = Sale(municipality_code=municipality_code, category=product.get("category") or "",
                product=product.get("name") or "", unit=line.get("unit") or product.get("unit") or "",
                quantity=Decimal(0), value=0)
    ref = reference_for(sale, references)
    if ref is None or ref.band_min is None or price >= ref.band_min:
        return None
    return Finding(key=f"sale:{line.get('line_id')}", kind=BELOW_MIN, municipality_code=sale.municipality_code,
                   product=sale.product, unit=sale.unit, price=price, reference=ref,
                   producer_id=product.get("producer_id"), organization_id=product.get("organization_id"),
                   order_id=order_id)


def offers_above_band(rows: list[dict], *, day) -> list[Finding]:
    """The catalog's `/stats/supply` price rows whose dearest offer today is above the band's maximum;
    one finding per reference and day."""
    found = []
    for row in rows:
        high = row.get("current_max")
        if not high or not row.get("band_max") or cents(high) <= cents(row["band_max"]):
            continue
        [ref] = references_from([{**row, "price": row["reference_price"], "product_name": row.get("product")}])
        what = f"{row['municipality_code']}|{row.get('category')}|{row.get('product')}|{row['unit']}|{day}"
        found.append(Finding(key="offer:" + hashlib.sha256(what.encode()).hexdigest()[:40], kind=ABOVE_MAX,
                             municipality_code=row["municipality_code"],
                             product=row.get("product") or CATEGORY_LABELS.get(row.get("category"), row.get("category") or ""),
                             unit=row["unit"],
                             price=cents(high), reference=ref))
    return found
