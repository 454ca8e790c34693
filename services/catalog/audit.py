"""Catalog's part of the consistency audit (services/common/audit.py), read-only.

Stock conservation per product: what orders hold (`reserved`) is the sum of its reserved lines, what
was sold (`sold`) the sum of its committed lines, and no counter is negative. (The stock itself moves
only by the producer's edits, which are not journaled, so `available` is checked for sign only.)
Facts for the gateway: the orders whose lines still hold stock.
"""

from collections import defaultdict
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.catalog.models import Product, ReservationLine, ReservationStatus
from services.common.audit import audit_router, discrepancy
from services.common.units import quantity_text

SERVICE = "catalog"


async def audit(session: AsyncSession, settings) -> tuple[list[dict], dict]:
    lines = ReservationLine.__table__
    held: dict[str, dict[int, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for product_id, status, total in (await session.execute(
            select(lines.c.product_id, lines.c.status, func.sum(lines.c.quantity))
            .group_by(lines.c.product_id, lines.c.status))).all():
        held[status][product_id] = Decimal(str(total))
    found = []
    products = Product.__table__
    for row in (await session.execute(select(products.c.id, products.c.available, products.c.reserved,
                                              products.c.sold).order_by(products.c.id))).all():
        for counter, status in (("reserved", ReservationStatus.reserved), ("sold", ReservationStatus.committed)):
            stored, expected = Decimal(str(getattr(row, counter))), held[status.value].get(row.id, Decimal(0))
            if stored != expected:
                found.append(discrepancy(
                    "stock_conservation", SERVICE,
                    f"product {row.id}: {counter} is {quantity_text(stored)} but its {status.value} lines "
                    f"add up to {quantity_text(expected)}", product_id=row.id, counter=counter))
        for counter in ("available", "reserved", "sold"):
            if Decimal(str(getattr(row, counter))) < 0:
                found.append(discrepancy("stock_not_negative", SERVICE, f"product {row.id}: {counter} is negative",
                                         product_id=row.id, counter=counter))
    holding = (await session.execute(select(lines.c.order_id).where(
        lines.c.status == ReservationStatus.reserved.value).distinct())).scalars()
    return found, {"orders_holding_stock": sorted(holding)}


router = audit_router(SERVICE, audit)
