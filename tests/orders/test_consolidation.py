"""End to end in process: open a cycle, orders from several consumers at several points, close,
and the pick lists, packing lists, organization totals and catalog stock agree with the lines."""

from collections import defaultdict
from decimal import Decimal

from sqlalchemy import select, update

from services.common.tables import utcnow
from services.orders.models import cycles, kernel
from tests.orders.conftest import platform

D = Decimal


async def test_cycle_end_to_end_consolidation_matches_the_lines(migrated, keys, backend):
    async with platform(migrated, keys, backend) as p:
        juana = await p.producer("Juana Mamani", organization="Cooperativa Illimani")
        pedro = await p.producer("Pedro Quispe")
        papa = await p.product(name="Papa Huaycha", unit="arroba", price_centavos=4500, available="100", producer=juana)
        haba = await p.product(name="Haba verde", unit="libra", price_centavos=500, available="100", producer=juana)
        miel = await p.product(name="Miel de Caranavi", unit="unidad", price_centavos=3500, available="40",
                               case_size="4", producer=pedro)
        camacho, alto = await p.point("Mercado Camacho"), await p.point("Feria 16 de Julio")
        cycle = await p.open_cycle(points=[camacho, alto], fee_rules=[
            {"kind": "packing", "basis": "per_item", "value": "1.00"}])
        plan = [  # consumer, point, lines
            (1, camacho, [(papa, "2", "0"), (haba, "4", "0"), (miel, "3", "1")]),
            (2, alto, [(papa, "1", "0"), (miel, "2", "0")]),
            (3, camacho, [(haba, "10", "0"), (miel, "2", "0")]),
            (4, alto, [(papa, "3.5", "0")]),
        ]
        placed = []
        for consumer, point, lines in plan:
            r = await p.order(consumer=consumer, cycle=cycle["id"], point=point, lines=[
                {"product_id": pid, "quantity": q, "tolerance": t} for pid, q, t in lines])
            assert r.status_code == 201, r.text
            placed.append(r.json())
        # miel: firm 7, tolerance 1 -> 2 cases (8): consumer 1 gets 3 + 1, 2 gets 2, 3 gets 2
        closed = await p.orders.post(f"/cycles/{cycle['id']}/close", headers=p.coordinator())
        assert closed.status_code == 200, closed.text
        assert closed.json()["cycle"]["status"] == "consolidated"
        assert closed.json()["cases"] == [{"product_id": miel, "product_name": "Miel de Caranavi", "case_size": "4",
                                           "cases": 2, "firm_total": "7", "tolerance_total": "1",
                                           "allocated_total": "8"}]
        doc = (await p.orders.get(f"/cycles/{cycle['id']}/consolidation", headers=p.coordinator())).json()

        expected = defaultdict(D)  # (product, point) -> quantity
        for (_, point, lines) in plan:
            for pid, q, _t in lines:
                expected[(pid, point)] += D(q)
        expected[(miel, camacho)] += 1  # the tolerance that filled the second case
        got = {}
        for producer in doc["producers"]:
            for product in producer["products"]:
                assert D(product["quantity"]) == sum(D(s["quantity"]) for s in product["by_point"])
                for split in product["by_point"]:
                    got[(product["product_id"], split["delivery_point_id"])] = D(split["quantity"])
        assert got == dict(expected)
        juana_list = next(x for x in doc["producers"] if x["producer_id"] == juana)
        assert juana_list["value"] == "362.50"  # papa 6.5 @ 45 + haba 14 @ 5
        assert juana_list["kg"] == "81.190"  # 6.5 arrobas = 74.75 kg + 14 libras = 6.44 kg
        orgs = {o["organization_id"]: o for o in doc["organizations"]}
        assert orgs[next(iter(k for k in orgs if k is not None))]["value"] == "362.50"
        assert orgs[None]["value"] == "280.00"  # 8 miel @ 35
        bags = {b["order_id"]: (pt["delivery_point_id"], b) for pt in doc["delivery_points"] for b in pt["bags"]}
        assert set(bags) == {o["id"] for o in placed}
        for order in placed:
            point, bag = bags[order["id"]]
            assert point == order["delivery_point_id"] and bag["pickup_code"] == order["pickup_code"]
        first = (await p.orders.get(f"/orders/{placed[0]['id']}", headers=p.consumer(1))).json()
        assert first["subtotal"] == "250.00"  # 90 + 20 + 4 miel @ 35
        assert first["total"] == "253.00"
        assert doc["totals"] == {"orders": 4, "products_value": "642.50", "fees": "8.00"}
        # catalog: everything sold, nothing left reserved
        assert await p.stock(papa) == (D("93.500"), D("0.000"), D("6.500"))
        assert await p.stock(miel) == (D("32.000"), D("0.000"), D("8.000"))
        [event] = await p.events("cycle.closed")
        assert {b["order_id"] for b in event["bags"]} == {o["id"] for o in placed}
        assert sum(D(ln["quantity"]) for c in event["consignments"] for ln in c["lines"]
                   if ln["product_id"] == papa) == D("6.5")
        # delivery understands the event: one consignment per producer and point, with the lines' quantities
        from sqlalchemy import func

        from services.common.events import Envelope
        from services.common.inbox import handle_event
        from services.delivery.app import SPEC as DELIVERY
        from services.delivery.models import Consignment

        await handle_event(p.delivery_db, DELIVERY.kernel, DELIVERY.event_handlers, Envelope(
            type="cycle.closed", aggregate_id=str(cycle["id"]), source="orders", payload=event))
        async with p.delivery_db.session() as s:
            count = (await s.execute(select(func.count()).select_from(Consignment)
                                     .where(Consignment.cycle_id == cycle["id"]))).scalar_one()
        assert count == len(event["consignments"]) == 4  # each of the two producers at both points
        csv_text = (await p.orders.get(f"/cycles/{cycle['id']}/consolidation?format=csv", headers=p.coordinator())).text
        assert "Lista de recojo por productor" in csv_text and "Papa Huaycha" in csv_text
        pdf = await p.orders.get(f"/cycles/{cycle['id']}/consolidation?format=pdf", headers=p.coordinator())
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        late = await p.order(consumer=5, cycle=cycle["id"], point=camacho, lines=[{"product_id": papa, "quantity": "1"}])
        assert late.status_code == 409


async def test_case_cut_tells_the_consumer_and_lowers_the_reservation(migrated, keys, backend):
    async with platform(migrated, keys, backend) as p:
        miel = await p.product(name="Miel de Caranavi", unit="unidad", price_centavos=3500, available="40", case_size="4")
        point = await p.point()
        cycle = await p.open_cycle(points=[point])
        a = (await p.order(consumer=1, cycle=cycle["id"], point=point, lines=[{"product_id": miel, "quantity": "3"}])).json()
        b = (await p.order(consumer=2, cycle=cycle["id"], point=point, lines=[{"product_id": miel, "quantity": "3"}])).json()
        assert (await p.orders.post(f"/cycles/{cycle['id']}/close", headers=p.coordinator())).status_code == 200
        cut = (await p.orders.get(f"/orders/{b['id']}", headers=p.consumer(2))).json()
        assert cut["lines"][0]["allocated_quantity"] == "1"
        assert cut["adjustments"][0]["cut"] == "2" and cut["total"] == "35.00"
        assert (await p.orders.get(f"/orders/{a['id']}", headers=p.consumer(1))).json()["adjustments"] is None
        assert await p.stock(miel) == (D("36.000"), D("0.000"), D("4.000"))


async def test_cycle_closes_automatically_at_closes_at(migrated, keys, backend):
    from datetime import timedelta

    from services.orders.background import run_duties_once

    async with platform(migrated, keys, backend) as p:
        papa = await p.product()
        point = await p.point()
        cycle = await p.open_cycle(points=[point], closes_in=timedelta(hours=1))
        assert (await p.order(consumer=1, cycle=cycle["id"], point=point,
                              lines=[{"product_id": papa, "quantity": "1"}])).status_code == 201
        state = p.orders_app.state
        # the hour passes: the cycle's closing time is now behind us (whatever the machine's load)
        async with state.db.session() as session:
            await session.execute(update(cycles).where(cycles.c.id == cycle["id"])
                                  .values(closes_at=utcnow() - timedelta(seconds=1)))
        await run_duties_once(db=state.db, kernel=state.kernel, clients=state.clients, pending_older_than=60)
        assert (await p.orders.get(f"/cycles/{cycle['id']}", headers=p.consumer(1))).json()["status"] == "consolidated"
        assert len(await p.events("cycle.closed")) == 1


async def test_close_while_catalog_is_down_keeps_cycle_closed_until_consolidation_succeeds(migrated, keys, backend):
    async with platform(migrated, keys, backend) as p:
        papa = await p.product()
        point = await p.point()
        cycle = await p.open_cycle(points=[point])
        await p.order(consumer=1, cycle=cycle["id"], point=point, lines=[{"product_id": papa, "quantity": "1"}])
        p.transports["catalog"].down = True
        r = await p.orders.post(f"/cycles/{cycle['id']}/close", headers=p.coordinator())
        assert r.status_code == 200 and r.json()["cycle"]["status"] == "closed"
        assert r.json()["consolidation_error"]["code"] == "service_unavailable"
        p.transports["catalog"].down = False
        r = await p.orders.post(f"/cycles/{cycle['id']}/consolidate", headers=p.coordinator())
        assert r.json()["cycle"]["status"] == "consolidated"
        assert await p.stock(papa) == (D("49.000"), D("0.000"), D("1.000"))


async def test_payments_and_delivery_accept_what_orders_emits(migrated, keys, backend):
    """Contract check: the real consumers apply order.placed, order.cancelled and cycle.closed."""
    from sqlalchemy import func

    from services.common.events import Envelope
    from services.common.inbox import handle_event
    from services.delivery.app import SPEC as DELIVERY
    from services.payments.app import SPEC as PAYMENTS
    from services.payments.order_book import orders as payment_orders
    from tests.conftest import transactional_database

    async with platform(migrated, keys, backend) as p, \
            transactional_database(migrated.url("payments", backend)) as payments_db:
        papa = await p.product(organization="Cooperativa Illimani")
        point = await p.point()
        cycle = await p.open_cycle(points=[point], fee_rules=[{"kind": "packing", "basis": "flat", "value": "1.00"}])
        kept = (await p.order(consumer=1, cycle=cycle["id"], point=point, lines=[{"product_id": papa, "quantity": "2"}])).json()
        dropped = (await p.order(consumer=2, cycle=cycle["id"], point=point, lines=[{"product_id": papa, "quantity": "1"}])).json()
        assert (await p.orders.post(f"/orders/{dropped['id']}/cancel", headers=p.consumer(2))).status_code == 200
        assert (await p.orders.post(f"/cycles/{cycle['id']}/close", headers=p.coordinator())).status_code == 200
        async with p.orders_db.session() as s:
            rows = (await s.execute(select(kernel.outbox.c.event_id, kernel.outbox.c.event_type,
                                           kernel.outbox.c.aggregate_id, kernel.outbox.c.payload)
                                    .where(kernel.outbox.c.event_type != "cycle.opened")  # for producers' notices
                                    .order_by(kernel.outbox.c.id))).all()
        assert [r.event_type for r in rows] == ["order.placed", "order.placed", "order.cancelled", "cycle.closed"]
        for row in rows:
            envelope = Envelope(id=row.event_id, type=row.event_type, aggregate_id=row.aggregate_id, source="orders",
                                payload=row.payload)
            await handle_event(payments_db, PAYMENTS.kernel, PAYMENTS.event_handlers, envelope)
            await handle_event(p.delivery_db, DELIVERY.kernel, DELIVERY.event_handlers, envelope)
        async with payments_db.session() as s:
            known = dict((await s.execute(select(payment_orders.c.order_id, payment_orders.c.status))).all())
            assert known[kept["id"]] == "placed" and known[dropped["id"]] == "cancelled"
        async with p.delivery_db.session() as s:
            from services.delivery.models import Consignment

            assert (await s.execute(select(func.count()).select_from(Consignment))).scalar_one() == 1
