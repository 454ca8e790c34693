"""Demo data of the delivery service: the demo world's delivery points (stable ids) and the closed
demo cycle's consignments in La Paz and El Alto (the orders demo's consolidated cycle, id 1, on its
delivery day from the world's calendar), so route planning has something to plan. Idempotent."""

from decimal import Decimal

from sqlalchemy import func, select, text

from services.common.money import from_centavos
from services.common.units import kg_of, parse_unit
from services.delivery.consignments import record_closed_cycle
from services.delivery.models import Cycle, DeliveryPoint

DEMO_CYCLE_ID = 1  # the orders demo writes its consolidated cycle first
DEMO_REGION = ("020101", "020105")  # La Paz and El Alto
DEMO_COORDINATOR_ACCOUNT = 2  # gateway/demo.py creates the admin first and the cycle coordinator second
# Weights of counted goods, so every line has a load for the vehicles (kg per unit of sale).
NOMINAL_KG = {"unidad": Decimal("0.5"), "docena": Decimal("1.5"), "atado": Decimal("0.5"),
              "caja": Decimal("10"), "litro": Decimal("1.03")}


async def load_demo(db, world) -> None:
    async with db.session() as session:
        known = set((await session.execute(select(DeliveryPoint.id))).scalars())
        for p in world.delivery_points:
            if p.id in known:
                continue
            session.add(DeliveryPoint(
                id=p.id, name=p.name, kind=p.kind, address=p.address, municipality_code=p.municipality_code,
                lat=p.lat, lon=p.lon, schedule=[dict(w) for w in p.schedule], contact=p.contact,
                cold_storage=p.cold_storage, active=True, max_orders_per_cycle=p.max_orders_per_cycle,
                registered_by=DEMO_COORDINATOR_ACCOUNT))
        await session.flush()
        if session.bind.dialect.name == "postgresql":  # explicit ids do not move the sequence
            top = (await session.execute(select(func.max(DeliveryPoint.id)))).scalar_one() or 1
            await session.execute(text("SELECT setval(pg_get_serial_sequence('delivery_points', 'id'), :top)"),
                                  {"top": top})
        if await session.get(Cycle, DEMO_CYCLE_ID) is None:  # loaded on another day: keep its date
            await record_closed_cycle(session=session, payload=demo_cycle_payload(world))


def demo_cycle_payload(world) -> dict:
    """A `cycle.closed` payload for the demo cycle: producers near La Paz bring their goods to the
    cycle's La Paz and El Alto points (deterministic, from the world's ids)."""
    dates = world.calendar.closed_cycle
    points = [p for p in world.delivery_points if p.id in dates.point_ids and p.municipality_code in DEMO_REGION]
    towns = {m.code: m for m in world.municipalities}
    producers = [p for p in world.producers if p.municipality_code.startswith("02")][:24]
    products_of: dict[int, list] = {}
    for product in world.products:
        products_of.setdefault(product.producer_id, []).append(product)
    consignments = []
    for n, producer in enumerate(producers):
        point = points[n % len(points)]
        town = towns[producer.municipality_code]
        lines = []
        for product in products_of.get(producer.id, [])[:3]:
            unit = parse_unit(product.unit)
            quantity = Decimal(3 + (product.id * 7) % 12)
            kg = kg_of(quantity, unit)
            if kg is None:
                kg = quantity * NOMINAL_KG.get(unit.value, Decimal(1))
            lines.append({"product_id": product.id, "product_name": product.name, "quantity": str(quantity),
                          "unit": unit.value, "unit_price": str(from_centavos(product.price_centavos)),
                          "kg": str(kg)})
        if lines:
            consignments.append({
                "producer_id": producer.id, "producer_name": producer.name,
                "organization_id": producer.organization_id, "delivery_point_id": point.id,
                "pickup": {"lat": town.lat, "lon": town.lon}, "lines": lines})
    return {"cycle_id": DEMO_CYCLE_ID, "name": "Ciclo demo La Paz – El Alto",
            "delivery_date": dates.delivery_date.isoformat(), "coordinator_account_id": DEMO_COORDINATOR_ACCOUNT,
            "delivery_point_ids": [p.id for p in points], "fee_rules": {}, "consignments": consignments,
            "bags": []}
