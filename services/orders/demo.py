"""Demo data of the orders service (`make demo`): an open cycle, and a consolidated one with orders.

The open cycle serves the world's delivery points and offers every active product, with the usual
packing, transport and admin fees. The consolidated cycle's orders are inserted directly (no
reservation saga: catalog's demo stock stays whole) so route planning and the exports have data
from the first start; its `cycle.closed` event is in the outbox for delivery and payments.
Loading twice changes nothing (cycles are matched by name).
"""

import random
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import insert, select

from services.common.events import emit
from services.common.money import apply_rate
from services.common.tables import utcnow
from services.orders.consolidation import closed_event_payload
from services.orders.cycles import load_cycle
from services.orders.fees import PricedLine, compute_fees, line_kg
from services.orders.models import cycles, kernel, order_lines, orders

# gateway/demo.py creates the admin first and the cycle coordinator second
DEMO_COORDINATOR_ACCOUNT = 2
DEMO_CONSUMER_ACCOUNTS = (5, 6, 7, 8, 9)
OPEN_NAME = "Ciclo semanal La Paz — en curso"
CLOSED_NAME = "Ciclo semanal La Paz — semana pasada"
FEE_RULES = [
    {"kind": "packing", "basis": "per_item", "value": "0.50"},
    {"kind": "transport", "basis": "per_kg", "value": "0.30"},
    {"kind": "admin", "basis": "percent", "value": "5"},
]


async def load_demo(db, world) -> None:
    now = utcnow()
    point_ids = [p.id for p in world.delivery_points]
    async with db.session() as session:
        names = set((await session.execute(select(cycles.c.name))).scalars())
        if OPEN_NAME not in names:
            await session.execute(insert(cycles).values(
                name=OPEN_NAME, coordinator_account_id=DEMO_COORDINATOR_ACCOUNT, status="open",
                opens_at=now - timedelta(days=1), closes_at=now + timedelta(days=5),
                delivery_date=(now + timedelta(days=6)).date(), point_ids=point_ids, point_capacity={},
                product_ids=None, fee_rules=FEE_RULES, created_at=now))
        if CLOSED_NAME not in names:
            await _closed_cycle(session=session, world=world, point_ids=point_ids, now=now)


async def _closed_cycle(*, session, world, point_ids: list[int], now) -> None:
    rng = random.Random(world.seed)
    cycle_id = (await session.execute(insert(cycles).values(
        name=CLOSED_NAME, coordinator_account_id=DEMO_COORDINATOR_ACCOUNT, status="consolidated",
        opens_at=now - timedelta(days=9), closes_at=now - timedelta(days=2), delivery_date=(now - timedelta(days=1)).date(),
        point_ids=point_ids, point_capacity={}, product_ids=None, fee_rules=FEE_RULES, created_at=now - timedelta(days=9),
        closed_at=now - timedelta(days=2), consolidated_at=now - timedelta(days=2)).returning(cycles.c.id))).scalar_one()
    producers = {p.id: p for p in world.producers}
    orgs_points = {m.code: (m.lat, m.lon) for m in world.municipalities}
    catalog = [p for p in world.products if p.case_size is None][:200] or world.products[:200]
    for n in range(40):
        consumer = DEMO_CONSUMER_ACCOUNTS[n % len(DEMO_CONSUMER_ACCOUNTS)]
        point = point_ids[n % len(point_ids)]
        chosen = rng.sample(catalog, k=min(3, len(catalog)))
        placed_at = now - timedelta(days=8) + timedelta(hours=n)
        order_id = (await session.execute(insert(orders).values(
            cycle_id=cycle_id, consumer_account_id=consumer, consumer_name=f"Consumidor demo {consumer}",
            delivery_point_id=point, status="placed", request_hash="demo", request={}, line_count=len(chosen),
            pickup_code=f"DEMO{n:04d}", fees=[], created_at=placed_at, placed_at=placed_at,
            updated_at=placed_at).returning(orders.c.id))).scalar_one()
        rows, priced = [], []
        for position, product in enumerate(chosen, start=1):
            producer = producers[product.producer_id]
            lat, lon = orgs_points.get(producer.municipality_code, (None, None))
            quantity = Decimal(rng.randint(1, 3))
            total = apply_rate(product.price_centavos, quantity)
            rows.append(dict(
                order_id=order_id, line_id=f"{order_id}-{position}", position=position, cycle_id=cycle_id,
                delivery_point_id=point, product_id=product.id, product_name=product.name, category=product.category,
                unit=product.unit, unit_price=product.price_centavos, quantity=quantity, tolerance=Decimal(0),
                allocated_quantity=quantity, line_total=total, producer_id=producer.id, producer_name=producer.name,
                producer_gender=producer.gender, organization_id=producer.organization_id,
                municipality_code=producer.municipality_code, producer_lat=lat, producer_lon=lon))
            priced.append(PricedLine(quantity=quantity, line_total=total,
                                     kg=line_kg(quantity=quantity, unit=product.unit, kg_per_unit=None)))
        await session.execute(insert(order_lines), rows)
        fees = compute_fees(rules=FEE_RULES, lines=priced)
        subtotal, fees_total = sum(p.line_total for p in priced), sum(f["amount"] for f in fees)
        await session.execute(orders.update().where(orders.c.id == order_id).values(
            subtotal=subtotal, fees=fees, fees_total=fees_total, total=subtotal + fees_total))
    cycle = await load_cycle(session=session, cycle_id=cycle_id)
    await emit(session, kernel, event_type="cycle.closed", aggregate_id=cycle_id,
               payload=await closed_event_payload(session=session, cycle=cycle))
