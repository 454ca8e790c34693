"""Placing, refusing and cancelling orders against the real catalog and delivery services."""

from decimal import Decimal

from tests.orders.conftest import platform


async def test_consumer_places_order_reserving_stock_and_booking_slot(migrated, keys, backend):
    async with platform(migrated, keys, backend) as p:
        papa = await p.product(name="Papa Huaycha", unit="arroba", price_centavos=4500, available="50")
        point = await p.point()
        cycle = await p.open_cycle(points=[point], fee_rules=[
            {"kind": "packing", "basis": "flat", "value": "2.00"},
            {"kind": "transport", "basis": "per_kg", "value": "0.10"},
            {"kind": "admin", "basis": "percent", "value": "5"}])
        r = await p.order(consumer=1, cycle=cycle["id"], point=point,
                          lines=[{"product_id": papa, "quantity": "2"}], key="k-1")
        assert r.status_code == 201, r.text
        order = r.json()
        assert order["status"] == "placed" and len(order["pickup_code"]) == 8
        assert order["subtotal"] == "90.00"
        fees = {f["kind"]: f["amount"] for f in order["fees"]}
        assert fees == {"packing": "2.00", "transport": "2.30", "admin": "4.50"}  # 2 arrobas = 23 kg
        assert order["total"] == "98.80"
        assert order["lines"][0]["line_id"] == f"{order['id']}-1"
        assert await p.stock(papa) == (Decimal("48.000"), Decimal("2.000"), Decimal("0.000"))
        assert await p.holding_bookings() == 1
        again = await p.order(consumer=1, cycle=cycle["id"], point=point,
                              lines=[{"product_id": papa, "quantity": "2"}], key="k-1")
        assert again.status_code == 201 and again.json()["id"] == order["id"]
        assert await p.stock(papa) == (Decimal("48.000"), Decimal("2.000"), Decimal("0.000"))


async def test_placement_keeps_its_idempotency_key_with_the_order(migrated, keys, backend):
    """The key lives on the order row (one transaction with it), not in the kernel's table: the same
    answer to a repeat, a refusal for another body under the key, and a failed try frees its key."""
    from sqlalchemy import func, select

    from services.orders.models import kernel

    async with platform(migrated, keys, backend) as p:
        papa = await p.product(available="3")
        point = await p.point()
        cycle = await p.open_cycle(points=[point])
        first = await p.order(consumer=1, cycle=cycle["id"], point=point,
                              lines=[{"product_id": papa, "quantity": "2"}], key="phone-7")
        assert first.status_code == 201, first.text
        other = await p.order(consumer=1, cycle=cycle["id"], point=point,
                              lines=[{"product_id": papa, "quantity": "1"}], key="phone-7")
        assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"
        too_much = await p.order(consumer=2, cycle=cycle["id"], point=point,
                                 lines=[{"product_id": papa, "quantity": "2"}], key="phone-7")
        assert too_much.status_code == 409 and too_much.json()["error"]["code"] == "stock_insufficient"
        async with p.orders_db.session() as s:
            stored = (await s.execute(select(func.count()).select_from(kernel.idempotency))).scalar_one()
        assert stored == 0
        # the first order cancelled gives its stock back: the refused consumer's retry now places
        cancelled = await p.orders.post(f"/orders/{first.json()['id']}/cancel", headers=p.consumer(1))
        assert cancelled.status_code == 200, cancelled.text
        retry = await p.order(consumer=2, cycle=cycle["id"], point=point,
                              lines=[{"product_id": papa, "quantity": "2"}], key="phone-7")
        assert retry.status_code == 201 and retry.json()["status"] == "placed"


async def test_order_for_closed_cycle_is_refused_with_409_and_cycle_closes_lazily(migrated, keys, backend):
    from datetime import timedelta

    async with platform(migrated, keys, backend) as p:
        papa = await p.product()
        point = await p.point()
        cycle = await p.open_cycle(points=[point], closes_in=timedelta(seconds=1))
        import asyncio

        await asyncio.sleep(1.1)
        r = await p.order(consumer=1, cycle=cycle["id"], point=point, lines=[{"product_id": papa, "quantity": "1"}])
        assert r.status_code == 409 and r.json()["error"]["code"] == "cycle_closed"
        assert (await p.orders.get(f"/cycles/{cycle['id']}", headers=p.consumer(1))).json()["status"] == "closed"
        assert await p.stock(papa) == (Decimal("50.000"), Decimal("0.000"), Decimal("0.000"))


async def test_cycle_closing_while_an_order_is_placed_refuses_it_and_gives_back_stock_and_slot(
        migrated, keys, backend):
    """The coordinator closes the cycle while the order waits for its booking: the order is refused
    (409 cycle_closed), written nowhere as placed, and its stock and slot are given back."""
    async with platform(migrated, keys, backend) as p:
        papa = await p.product(available="50")
        point = await p.point()
        cycle = await p.open_cycle(points=[point])

        async def close_meanwhile(request):
            if request.url.path == "/internal/bookings":
                p.transports["delivery"].before = None
                closed = await p.orders.post(f"/cycles/{cycle['id']}/close", headers=p.coordinator())
                assert closed.status_code == 200, closed.text

        p.transports["delivery"].before = close_meanwhile
        r = await p.order(consumer=1, cycle=cycle["id"], point=point, lines=[{"product_id": papa, "quantity": "3"}],
                          key="late-1")
        assert r.status_code == 409 and r.json()["error"]["code"] == "cycle_closed", r.text
        mine = (await p.orders.get("/orders", headers=p.consumer(1))).json()
        assert [o["status"] for o in mine["items"]] == []
        assert await p.stock(papa) == (Decimal("50.000"), Decimal("0.000"), Decimal("0.000"))
        assert await p.holding_bookings() == 0


async def test_fees_changed_while_an_order_is_placed_price_it_with_the_new_rules(migrated, keys, backend):
    """The coordinator changes the cycle's fee rules while the order waits for its booking: the
    order is placed with the rules in force when it is written, and its event says the same total."""
    async with platform(migrated, keys, backend) as p:
        papa = await p.product(price_centavos=4500, available="50")
        point = await p.point()
        cycle = await p.open_cycle(points=[point], fee_rules=[{"kind": "packing", "basis": "flat", "value": "2.00"}])

        async def raise_fees_meanwhile(request):
            if request.url.path == "/internal/bookings":
                p.transports["delivery"].before = None
                changed = await p.orders.patch(f"/cycles/{cycle['id']}", headers=p.coordinator(), json={
                    "fee_rules": [{"kind": "packing", "basis": "flat", "value": "3.50"}]})
                assert changed.status_code == 200, changed.text

        p.transports["delivery"].before = raise_fees_meanwhile
        r = await p.order(consumer=1, cycle=cycle["id"], point=point, lines=[{"product_id": papa, "quantity": "2"}],
                          key="fees-1")
        assert r.status_code == 201, r.text
        order = r.json()
        assert order["fees"][0]["amount"] == "3.50" and order["total"] == "93.50"
        shown = (await p.orders.get(f"/orders/{order['id']}", headers=p.consumer(1))).json()
        assert shown["total"] == "93.50" and shown["status"] == "placed"
        [placed] = await p.events("order.placed")
        assert placed["total"] == "93.50" and placed["pickup_code"] == order["pickup_code"]


async def test_order_at_a_point_outside_the_cycle_is_422(migrated, keys, backend):
    async with platform(migrated, keys, backend) as p:
        papa = await p.product()
        inside, outside = await p.point(), await p.point(name="Feria El Alto")
        cycle = await p.open_cycle(points=[inside])
        r = await p.order(consumer=1, cycle=cycle["id"], point=outside, lines=[{"product_id": papa, "quantity": "1"}])
        assert r.status_code == 422 and r.json()["error"]["code"] == "point_not_in_cycle"
        assert await p.holding_bookings() == 0


async def test_full_point_without_waiting_is_409_naming_nearest_points_with_room_and_keeps_nothing(
        migrated, keys, backend):
    async with platform(migrated, keys, backend) as p:
        papa = await p.product()
        full = await p.point(capacity=5)
        near = await p.point(name="Feria 16 de Julio", capacity=3, lat=-16.4960, lon=-68.1340)
        far = await p.point(name="Feria de El Alto", capacity=3, lat=-16.5100, lon=-68.1900)
        closed = await p.point(name="Tambo Rodríguez", capacity=3, lat=-16.4991, lon=-68.1310)
        cycle = await p.open_cycle(points=[full, far, closed, near], capacity={str(full): 1, str(closed): 0})
        first = await p.order(consumer=1, cycle=cycle["id"], point=full, lines=[{"product_id": papa, "quantity": "1"}])
        assert first.status_code == 201, first.text
        second = await p.order(consumer=2, cycle=cycle["id"], point=full, lines=[{"product_id": papa, "quantity": "3"}])
        assert second.status_code == 409, second.text
        error = second.json()["error"]
        assert error["code"] == "point_full" and "wait_if_full" in error["message"]
        # nearest first; the closest point of all takes no orders in this cycle (capacity 0)
        room = error["details"]["nearest_points_with_room"]
        assert [(r["point_id"], r["slots_left"]) for r in room] == [(near, 3), (far, 3)]
        assert await p.stock(papa) == (Decimal("49.000"), Decimal("1.000"), Decimal("0.000"))
        availability = (await p.delivery.get(f"/points/{full}/availability", params={"cycle_id": cycle["id"]})).json()
        assert availability["waitlisted"] == 0


async def test_insufficient_stock_is_409_naming_product_and_what_is_left(migrated, keys, backend):
    async with platform(migrated, keys, backend) as p:
        papa = await p.product(name="Papa Huaycha", available="50")
        quinua = await p.product(name="Quinua Real", unit="kg", price_centavos=2200, available="3")
        point = await p.point()
        cycle = await p.open_cycle(points=[point])
        r = await p.order(consumer=1, cycle=cycle["id"], point=point,
                          lines=[{"product_id": papa, "quantity": "2"}, {"product_id": quinua, "quantity": "5"}])
        assert r.status_code == 409
        error = r.json()["error"]
        assert error["code"] == "stock_insufficient"
        assert "Quinua Real" in error["message"] and error["details"]["available"] in ("3", "3.000")
        assert await p.stock(papa) == (Decimal("50.000"), Decimal("0.000"), Decimal("0.000"))
        assert await p.holding_bookings() == 0


async def test_catalog_down_is_503_and_nothing_stays_reserved(migrated, keys, backend):
    async with platform(migrated, keys, backend) as p:
        papa = await p.product()
        point = await p.point()
        cycle = await p.open_cycle(points=[point])
        p.transports["catalog"].down = True
        r = await p.order(consumer=1, cycle=cycle["id"], point=point, lines=[{"product_id": papa, "quantity": "1"}])
        assert r.status_code == 503 and r.json()["error"]["details"]["service"] == "catalog"
        p.transports["catalog"].down = False
        assert await p.stock(papa) == (Decimal("50.000"), Decimal("0.000"), Decimal("0.000"))
        assert await p.holding_bookings() == 0
        retry = await p.order(consumer=1, cycle=cycle["id"], point=point, lines=[{"product_id": papa, "quantity": "1"}])
        assert retry.status_code == 201


async def test_delivery_down_is_503_and_reserved_stock_is_released(migrated, keys, backend):
    from services.orders.placement import recover_orders

    async with platform(migrated, keys, backend) as p:
        papa = await p.product()
        point = await p.point()
        cycle = await p.open_cycle(points=[point])
        p.transports["delivery"].down = True
        r = await p.order(consumer=1, cycle=cycle["id"], point=point,
                          lines=[{"product_id": papa, "quantity": "4"}], key="down-1")
        assert r.status_code == 503 and r.json()["error"]["details"]["service"] == "delivery"
        assert await p.stock(papa) == (Decimal("50.000"), Decimal("0.000"), Decimal("0.000"))
        p.transports["delivery"].down = False
        # the slot release could not be confirmed while delivery was down: recovery finishes it
        assert await recover_orders(db=p.orders_db, clients=p.orders_app.state.clients, pending_older_than=0) == 1
        assert await p.holding_bookings() == 0
        retry = await p.order(consumer=1, cycle=cycle["id"], point=point,
                              lines=[{"product_id": papa, "quantity": "4"}], key="down-1")
        assert retry.status_code == 201, retry.text


async def test_placement_abandoned_mid_way_is_compensated_by_recovery(migrated, keys, backend):
    """A crash after reserving stock and holding a slot leaves a pending order; recovery undoes it."""
    from services.orders.placement import line_ids_of, recover_orders

    async with platform(migrated, keys, backend) as p:
        papa = await p.product()
        point = await p.point()
        cycle = await p.open_cycle(points=[point])
        from sqlalchemy import insert

        from services.common.tables import utcnow
        from services.orders.models import orders

        async with p.orders_db.session() as s:
            order_id = (await s.execute(insert(orders).values(
                cycle_id=cycle["id"], consumer_account_id=5, delivery_point_id=point, status="pending",
                request_hash="x", request={}, line_count=1, fees=[], created_at=utcnow(),
                updated_at=utcnow()).returning(orders.c.id))).scalar_one()
        clients = p.orders_app.state.clients
        await clients["catalog"].call("POST", "/internal/reservations", json={
            "order_id": str(order_id), "lines": [{"line_id": line_ids_of(order_id, 1)[0], "product_id": papa,
                                                  "quantity": "3"}]})
        await clients["delivery"].call("POST", "/internal/bookings", json={
            "order_id": str(order_id), "point_id": point, "cycle_id": cycle["id"]})
        assert await p.stock(papa) == (Decimal("47.000"), Decimal("3.000"), Decimal("0.000"))
        assert await recover_orders(db=p.orders_db, clients=clients, pending_older_than=3600) == 0
        assert await recover_orders(db=p.orders_db, clients=clients, pending_older_than=0) == 1
        assert await p.stock(papa) == (Decimal("50.000"), Decimal("0.000"), Decimal("0.000"))
        assert await p.holding_bookings() == 0


async def test_cancel_until_close_frees_stock_and_slot_and_emits_order_cancelled(migrated, keys, backend):
    from sqlalchemy import select

    from services.orders.models import kernel

    async with platform(migrated, keys, backend) as p:
        papa = await p.product()
        point = await p.point()
        cycle = await p.open_cycle(points=[point])
        order = (await p.order(consumer=1, cycle=cycle["id"], point=point,
                               lines=[{"product_id": papa, "quantity": "2"}])).json()
        other = await p.orders.post(f"/orders/{order['id']}/cancel", headers=p.consumer(2))
        assert other.status_code == 403
        r = await p.orders.post(f"/orders/{order['id']}/cancel", headers=p.consumer(1))
        assert r.status_code == 200 and r.json()["status"] == "cancelled"
        assert await p.stock(papa) == (Decimal("50.000"), Decimal("0.000"), Decimal("0.000"))
        assert await p.holding_bookings() == 0
        async with p.orders_db.session() as s:
            types = (await s.execute(select(kernel.outbox.c.event_type).where(kernel.outbox.c.event_type != "cycle.opened")
                                     .order_by(kernel.outbox.c.id))).scalars().all()
        assert types == ["order.placed", "order.cancelled"]  # the order's own events (the cycle's opening aside)


async def test_consumers_see_only_their_orders_and_coordinators_their_cycles(migrated, keys, backend):
    async with platform(migrated, keys, backend) as p:
        papa = await p.product()
        point = await p.point()
        cycle = await p.open_cycle(points=[point])
        a = (await p.order(consumer=1, cycle=cycle["id"], point=point, lines=[{"product_id": papa, "quantity": "1"}])).json()
        b = (await p.order(consumer=2, cycle=cycle["id"], point=point, lines=[{"product_id": papa, "quantity": "1"}])).json()
        mine = (await p.orders.get("/orders", headers=p.consumer(1))).json()["items"]
        assert [o["id"] for o in mine] == [a["id"]]
        assert (await p.orders.get(f"/orders/{b['id']}", headers=p.consumer(1))).status_code == 404
        coordinated = (await p.orders.get("/orders", headers=p.coordinator())).json()["items"]
        assert {o["id"] for o in coordinated} == {a["id"], b["id"]}
        assert (await p.orders.get("/orders", headers=p.coordinator(901))).json()["items"] == []
        assert (await p.orders.post(f"/cycles/{cycle['id']}/close", headers=p.coordinator(901))).status_code == 403


async def test_agrobolsa_expands_into_lines(migrated, keys, backend):
    async with platform(migrated, keys, backend) as p:
        papa = await p.product(name="Papa Huaycha", unit="arroba", price_centavos=4500)
        haba = await p.product(name="Haba verde", unit="libra", price_centavos=500)
        point = await p.point()
        cycle = await p.open_cycle(points=[point])
        basket = await p.orders.post(f"/cycles/{cycle['id']}/baskets", headers=p.coordinator(), json={
            "name": "Agrobolsa andina", "lines": [{"product_id": papa, "quantity": "1"},
                                                  {"product_id": haba, "quantity": "4"}]})
        assert basket.status_code == 201, basket.text
        r = await p.orders.post("/orders", headers=p.consumer(3), json={
            "cycle_id": cycle["id"], "delivery_point_id": point, "baskets": [{"basket_id": basket.json()["id"],
                                                                               "count": 2}]})
        assert r.status_code == 201, r.text
        lines = {ln["product_name"]: ln["quantity"] for ln in r.json()["lines"]}
        assert lines == {"Papa Huaycha": "2", "Haba verde": "8"}
        assert r.json()["subtotal"] == "130.00"


async def test_quote_shows_lines_and_fees_before_confirming_and_reserves_nothing(migrated, keys, backend):
    async with platform(migrated, keys, backend) as p:
        papa = await p.product(name="Papa Huaycha", unit="arroba", price_centavos=4500)
        point = await p.point()
        cycle = await p.open_cycle(points=[point], fee_rules=[
            {"kind": "packing", "basis": "flat", "value": "2.00"},
            {"kind": "transport", "basis": "per_kg", "value": "0.10"},
            {"kind": "admin", "basis": "percent", "value": "5", "payer": "producer"}])  # settled by payments
        r = await p.orders.post("/orders/quote", headers=p.consumer(1), json={
            "cycle_id": cycle["id"], "delivery_point_id": point, "lines": [{"product_id": papa, "quantity": "2"}]})
        assert r.status_code == 200, r.text
        quote = r.json()
        assert quote["lines"][0]["product_name"] == "Papa Huaycha" and quote["subtotal"] == "90.00"
        assert [f["amount"] for f in quote["fees"]] == ["2.00", "2.30"] and quote["total"] == "94.30"
        assert await p.stock(papa) == (Decimal("50.000"), Decimal("0.000"), Decimal("0.000"))
        placed = (await p.order(consumer=1, cycle=cycle["id"], point=point,
                                lines=[{"product_id": papa, "quantity": "2"}])).json()
        assert placed["total"] == quote["total"]


async def test_pickup_and_payment_events_move_the_order(migrated, keys, backend):
    from services.common.events import Envelope
    from services.common.inbox import handle_event
    from services.orders.app import SPEC

    async with platform(migrated, keys, backend) as p:
        papa = await p.product()
        point = await p.point()
        cycle = await p.open_cycle(points=[point])
        order = (await p.order(consumer=1, cycle=cycle["id"], point=point,
                               lines=[{"product_id": papa, "quantity": "1"}])).json()
        packed = await p.orders.post(f"/orders/{order['id']}/status", json={"status": "packed"}, headers=p.coordinator())
        assert packed.status_code == 200 and packed.json()["status"] == "packed"
        backwards = await p.orders.post(f"/orders/{order['id']}/status", json={"status": "packed"},
                                        headers=p.coordinator(901))
        assert backwards.status_code == 403
        picked = Envelope(type="order.picked_up", aggregate_id=str(order["id"]), source="delivery", payload={
            "order_id": str(order["id"]), "cycle_id": str(cycle["id"]), "delivery_point_id": str(point),
            "picked_up_at": "2026-11-21T10:00:00Z"})
        paid = Envelope(type="payment.received", aggregate_id="p1", source="payments", payload={
            "payment_id": "p1", "order_id": str(order["id"]), "amount": "45.00", "method": "cash"})
        for envelope in (picked, picked, paid):
            await handle_event(p.orders_db, SPEC.kernel, SPEC.event_handlers, envelope)
        unknown = Envelope(type="order.no_show", aggregate_id="999999", payload={"order_id": "999999"})
        await handle_event(p.orders_db, SPEC.kernel, SPEC.event_handlers, unknown)
        now = (await p.orders.get(f"/orders/{order['id']}", headers=p.consumer(1))).json()
        assert now["status"] == "picked_up" and now["paid"] is True

