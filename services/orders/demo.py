"""Demo data of the orders service (`make demo`): a consolidated cycle with orders, and an open one.

Both serve the points and dates of the world's calendar (infra/demo_world.py: the open cycle
delivers on the next day, at least two days ahead, on which its points open; the closed one on the
last such day before today), checked here with the rule every cycle obeys. The open cycle offers
every active product, with the usual packing, transport and admin fees. The consolidated cycle
comes first (id 1, the cycle delivery's demo knows); its orders are inserted directly (no
reservation saga: catalog's demo stock stays whole) so route planning and the exports have data
from the first start; its `cycle.closed` event is in the outbox for delivery and payments.
Loading twice changes nothing (cycles are matched by name; the open cycle's name carries its
delivery day, so loading on a later week adds that week's open cycle).
"""

import random
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import insert, select

from services.common import clock
from services.common.events import emit
from services.common.money import apply_rate
from services.common.schedules import WEEKDAYS
from services.orders.consolidation import closed_event_payload
from services.orders.cycles import check_points_serve, load_cycle
from services.orders.fees import PricedLine, compute_fees, line_kg
from services.orders.models import cycles, kernel, order_lines, orders

# gateway/demo.py creates the admin first and the cycle coordinator second
DEMO_COORDINATOR_ACCOUNT = 2
DEMO_CONSUMER_ACCOUNTS = (5, 6, 7, 8, 9)
CLOSED_NAME = "Ciclo semanal La Paz — semana pasada"
FEE_RULES = [
    {"kind": "packing", "basis": "per_item", "value": "0.50"},
    {"kind": "transport", "basis": "per_kg", "value": "0.30"},
    {"kind": "admin", "basis": "percent", "value": "5"},
]


def open_cycle_name(world) -> str:
    day = world.calendar.open_cycle.delivery_date
    return f"Ciclo semanal La Paz — entrega del {WEEKDAYS[day.weekday()]} {day:%d/%m}"


def check_world(world) -> None:
    """The demo cycles obey the rule every cycle does (InvalidInput otherwise): nothing is written."""
    points = {p.id: {"id": p.id, "name": p.name, "schedule": list(p.schedule)} for p in world.delivery_points}
    for dates in (world.calendar.closed_cycle, world.calendar.open_cycle):
        check_points_serve(points=[points[i] for i in dates.point_ids], delivery_date=dates.delivery_date)


async def load_demo(db, world) -> None:
    now = clock.now()
    check_world(world)
    async with db.session() as session:
        names = set((await session.execute(select(cycles.c.name))).scalars())
        if CLOSED_NAME not in names:
            await _closed_cycle(session=session, world=world)
        if open_cycle_name(world) not in names:
            dates = world.calendar.open_cycle
            await session.execute(insert(cycles).values(
                name=open_cycle_name(world), coordinator_account_id=DEMO_COORDINATOR_ACCOUNT, status="open",
                opens_at=dates.opens_at, closes_at=dates.closes_at, delivery_date=dates.delivery_date,
                point_ids=list(dates.point_ids), point_capacity={}, product_ids=None, fee_rules=FEE_RULES,
                created_at=now))


async def _closed_cycle(*, session, world) -> None:
    rng = random.Random(world.seed)
    dates = world.calendar.closed_cycle
    point_ids = list(dates.point_ids)
    cycle_id = (await session.execute(insert(cycles).values(
        name=CLOSED_NAME, coordinator_account_id=DEMO_COORDINATOR_ACCOUNT, status="consolidated",
        opens_at=dates.opens_at, closes_at=dates.closes_at, delivery_date=dates.delivery_date,
        point_ids=point_ids, point_capacity={}, product_ids=None, fee_rules=FEE_RULES, created_at=dates.opens_at,
        closed_at=dates.closes_at, consolidated_at=dates.closes_at).returning(cycles.c.id))).scalar_one()
    producers = {p.id: p for p in world.producers}
    orgs_points = {m.code: (m.lat, m.lon) for m in world.municipalities}
    catalog = [p for p in world.products if p.case_size is None][:200] or world.products[:200]
    for n in range(40):
        consumer = DEMO_CONSUMER_ACCOUNTS[n % len(DEMO_CONSUMER_ACCOUNTS)]
        point = point_ids[n % len(point_ids)]
        chosen = rng.sample(catalog, k=min(3, len(catalog)))
        placed_at = dates.opens_at + timedelta(hours=n)
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
