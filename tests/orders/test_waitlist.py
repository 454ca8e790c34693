"""Waiting orders at a full point, through the real orders, catalog and delivery services, with the
events between orders and delivery carried by the HTTP transport (`p.pump()`)."""

from decimal import Decimal as D

from sqlalchemy import select

from services.common.events import Envelope
from services.common.inbox import handle_event
from services.delivery.models import Booking
from services.orders.models import kernel
from services.payments.app import SPEC as PAYMENTS
from services.payments.order_book import orders as payment_orders
from tests.conftest import transactional_database
from tests.delivery.conftest import POINT_REGISTRAR
from tests.orders.conftest import platform


async def _events(p, event_type: str) -> list[dict]:
    async with p.orders_db.session() as s:
        return list((await s.execute(select(kernel.outbox.c.payload).where(kernel.outbox.c.event_type == event_type)
                                     .order_by(kernel.outbox.c.id))).scalars())


async def _order(p, order_id: int, consumer: int) -> dict:
    r = await p.orders.get(f"/orders/{order_id}", headers=p.consumer(consumer))
    assert r.status_code == 200, r.text
    return r.json()


async def _availability(p, point: int, cycle: int) -> dict:
    return (await p.delivery.get(f"/points/{point}/availability", params={"cycle_id": cycle})).json()


async def test_waiting_orders_are_promoted_in_order_and_cancelled_at_close_never_counted_as_sold(
        migrated, keys, backend):
    async with platform(migrated, keys, backend) as p:
        papa = await p.product(name="Papa Huaycha", unit="arroba", price_centavos=4500, available="50")
        point = await p.point(capacity=25)
        cycle = await p.open_cycle(points=[point], capacity={str(point): 2})
        lines = [{"product_id": papa, "quantity": "1"}]
        answers = [await p.order(consumer=c, cycle=cycle["id"], point=point, lines=lines, wait_if_full=True)
                   for c in (1, 2, 3, 4)]
        assert [r.status_code for r in answers] == [201] * 4
        first, second, third, fourth = (r.json() for r in answers)
        assert [o["status"] for o in (first, second, third, fourth)] == ["placed", "placed", "waitlisted", "waitlisted"]
        assert first["pickup_code"] and second["pickup_code"] and third["pickup_code"] is None
        assert (third["waitlist_position"], fourth["waitlist_position"]) == (1, 2)
        assert third["total"] == "45.00"  # priced like any order: due once it is placed
        # every waiting order holds its stock
        assert await p.stock(papa) == (D("46.000"), D("4.000"), D("0.000"))
        assert (await _order(p, third["id"], 3))["waitlist_position"] == 1
        assert (await _order(p, fourth["id"], 4))["waitlist_position"] == 2
        assert await _availability(p, point, cycle["id"]) == {
            "point_id": point, "cycle_id": cycle["id"], "capacity": 2, "booked": 2, "slots_left": 0, "waitlisted": 2}
        waiting = await _events(p, "order.waitlisted")
        assert [(e["order_id"], e["position"]) for e in waiting] == [(third["id"], 1), (fourth["id"], 2)]
        assert {e["order_id"] for e in await _events(p, "order.placed")} == {first["id"], second["id"]}

        # waiting orders are neither in the lists nor the totals, but counted apart
        doc = (await p.orders.get(f"/cycles/{cycle['id']}/consolidation", headers=p.coordinator())).json()
        assert doc["totals"]["orders"] == 2 and doc["totals"]["products_value"] == "90.00"
        assert doc["waitlisted"] == {"orders": 2, "delivery_points": [{"delivery_point_id": point, "orders": 2}]}
        sales = (await p.orders.get("/stats/sales", headers=p.coordinator())).json()
        assert (sales["orders"], sales["waitlisted_orders"]) == (2, 2)
        assert [r["quantity"] for r in sales["products"]] == ["2"]

        # a placed order is cancelled: the first waiting one takes its slot, the second moves up
        assert (await p.orders.post(f"/orders/{first['id']}/cancel", headers=p.consumer(1))).status_code == 200
        assert await p.pump() > 0
        promoted = await _order(p, third["id"], 3)
        assert promoted["status"] == "placed" and len(promoted["pickup_code"]) == 8
        assert promoted["waitlist_position"] is None and promoted["placed_at"] is not None
        assert (await _order(p, fourth["id"], 4))["waitlist_position"] == 1
        [event] = await _events(p, "order.promoted")
        assert (event["order_id"], event["pickup_code"], event["reason"]) == (
            third["id"], promoted["pickup_code"], "slot_freed")
        assert [e["order_id"] for e in await _events(p, "order.placed")] == [first["id"], second["id"], third["id"]]
        assert await _availability(p, point, cycle["id"]) == {
            "point_id": point, "cycle_id": cycle["id"], "capacity": 2, "booked": 2, "slots_left": 0, "waitlisted": 1}
        assert await p.stock(papa) == (D("47.000"), D("3.000"), D("0.000"))
        assert await p.pump() == 0  # nothing is promoted twice
        assert len(await _events(p, "order.promoted")) == 1

        # the cycle closes: the last waiting order is cancelled, its stock and its place released
        closed = await p.orders.post(f"/cycles/{cycle['id']}/close", headers=p.coordinator())
        assert closed.status_code == 200 and closed.json()["cycle"]["status"] == "consolidated"
        assert (await _order(p, fourth["id"], 4))["status"] == "cancelled"
        cancelled = [e for e in await _events(p, "order.cancelled") if e["order_id"] == fourth["id"]]
        assert [(e["reason"], e["previous_status"]) for e in cancelled] == [("waitlist_closed", "waitlisted")]
        assert await p.stock(papa) == (D("48.000"), D("0.000"), D("2.000"))
        await p.pump()
        assert (await _availability(p, point, cycle["id"]))["waitlisted"] == 0
        [closed_event] = await _events(p, "cycle.closed")
        assert sorted(b["order_id"] for b in closed_event["bags"]) == [second["id"], third["id"]]
        doc = (await p.orders.get(f"/cycles/{cycle['id']}/consolidation", headers=p.coordinator())).json()
        assert doc["totals"]["orders"] == 2 and doc["waitlisted"]["orders"] == 0
        sales = (await p.orders.get("/stats/sales", headers=p.coordinator())).json()
        assert (sales["orders"], sales["waitlisted_orders"]) == (2, 0)
        deliveries = (await p.delivery.get("/stats/deliveries", headers=p.coordinator())).json()
        [row] = [r for r in deliveries["points"] if r["point_id"] == point]
        assert (row["orders"], row["waitlisted"]) == (2, 0)

        # payments learns of an order when it is placed: the one that only waited was never owed
        async with transactional_database(migrated.url("payments", backend)) as payments_db:
            async with p.orders_db.session() as s:
                rows = (await s.execute(select(kernel.outbox).order_by(kernel.outbox.c.id))).all()
            for row in rows:
                await handle_event(payments_db, PAYMENTS.kernel, PAYMENTS.event_handlers, Envelope(
                    id=row.event_id, type=row.event_type, aggregate_id=row.aggregate_id, source="orders",
                    payload=row.payload))
            async with payments_db.session() as s:
                known = dict((await s.execute(select(payment_orders.c.order_id, payment_orders.c.status))).all())
        assert known == {first["id"]: "cancelled", second["id"]: "placed", third["id"]: "placed"}


async def test_a_waiting_order_moves_to_a_point_with_room_or_is_cancelled_by_its_consumer(migrated, keys, backend):
    async with platform(migrated, keys, backend) as p:
        papa = await p.product(available="10")
        full = await p.point(name="Mercado Camacho")
        other = await p.point(name="Feria 16 de Julio", lat=-16.4960, lon=-68.1340)
        cycle = await p.open_cycle(points=[full, other], capacity={str(full): 1, str(other): 1})
        lines = [{"product_id": papa, "quantity": "1"}]
        await p.order(consumer=1, cycle=cycle["id"], point=full, lines=lines)
        moving = (await p.order(consumer=2, cycle=cycle["id"], point=full, lines=lines, wait_if_full=True)).json()
        leaving = (await p.order(consumer=3, cycle=cycle["id"], point=full, lines=lines, wait_if_full=True)).json()
        assert (moving["waitlist_position"], leaving["waitlist_position"]) == (1, 2)

        stranger = await p.orders.post(f"/orders/{moving['id']}/move", json={"delivery_point_id": other},
                                       headers=p.consumer(9))
        assert stranger.status_code == 403
        placed_one = (await p.orders.get("/orders", headers=p.consumer(1))).json()["items"][0]
        not_waiting = await p.orders.post(f"/orders/{placed_one['id']}/move", json={"delivery_point_id": other},
                                          headers=p.consumer(1))
        assert not_waiting.status_code == 409 and not_waiting.json()["error"]["code"] == "order_not_waiting"
        outside = await p.orders.post(f"/orders/{moving['id']}/move", json={"delivery_point_id": 999999},
                                      headers=p.consumer(2))
        assert outside.status_code == 422 and outside.json()["error"]["code"] == "point_not_in_cycle"
        moved = await p.orders.post(f"/orders/{moving['id']}/move", json={"delivery_point_id": other},
                                    headers=p.consumer(2))
        assert moved.status_code == 200, moved.text
        assert (moved.json()["status"], moved.json()["delivery_point_id"]) == ("placed", other)
        assert len(moved.json()["pickup_code"]) == 8
        again = await p.orders.post(f"/orders/{moving['id']}/move", json={"delivery_point_id": other},
                                    headers=p.consumer(2))
        assert again.status_code == 200 and again.json()["pickup_code"] == moved.json()["pickup_code"]
        [event] = await _events(p, "order.promoted")
        assert (event["reason"], event["moved_from_point_id"], event["delivery_point_id"]) == ("moved", full, other)
        assert (await _order(p, leaving["id"], 3))["waitlist_position"] == 1

        # the other point is full now: moving there is refused and changes nothing
        refused = await p.orders.post(f"/orders/{leaving['id']}/move", json={"delivery_point_id": other},
                                      headers=p.consumer(3))
        assert refused.status_code == 409 and refused.json()["error"]["code"] == "point_full"
        assert (await _order(p, leaving["id"], 3))["status"] == "waitlisted"

        cancelled = await p.orders.post(f"/orders/{leaving['id']}/cancel", headers=p.consumer(3))
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        assert await p.stock(papa) == (D("8.000"), D("2.000"), D("0.000"))
        await p.pump()
        assert (await _availability(p, full, cycle["id"]))["waitlisted"] == 0
        assert (await _availability(p, other, cycle["id"]))["booked"] == 1


async def test_a_capacity_raised_by_the_coordinator_promotes_waiting_orders_at_once(migrated, keys, backend):
    async with platform(migrated, keys, backend) as p:
        papa = await p.product()
        point = await p.point()
        cycle = await p.open_cycle(points=[point], capacity={str(point): 1})
        lines = [{"product_id": papa, "quantity": "1"}]
        orders = [(await p.order(consumer=c, cycle=cycle["id"], point=point, lines=lines, wait_if_full=True)).json()
                  for c in (1, 2, 3)]
        assert [o["status"] for o in orders] == ["placed", "waitlisted", "waitlisted"]
        raised = await p.orders.patch(f"/cycles/{cycle['id']}", json={"point_capacity": {str(point): 2}},
                                      headers=p.coordinator())
        assert raised.status_code == 200, raised.text
        await p.pump()
        assert (await _order(p, orders[1]["id"], 2))["status"] == "placed"
        last = await _order(p, orders[2]["id"], 3)
        assert (last["status"], last["waitlist_position"]) == ("waitlisted", 1)
        assert (await _availability(p, point, cycle["id"]))["booked"] == 2


async def test_a_point_given_more_slots_promotes_the_orders_waiting_in_the_cycles_that_use_it(
        migrated, keys, backend):
    """The point's own capacity (no override in the cycle) raised by its coordinator reaches the open
    cycle at once; a cycle with a capacity of its own keeps it."""
    async with platform(migrated, keys, backend) as p:
        papa = await p.product()
        point = await p.point(capacity=1)
        follows = await p.open_cycle(points=[point])
        keeps = await p.open_cycle(points=[point], capacity={str(point): 1})
        lines = [{"product_id": papa, "quantity": "1"}]
        orders = {cycle["id"]: [(await p.order(consumer=c, cycle=cycle["id"], point=point, lines=lines,
                                               wait_if_full=True)).json() for c in (1, 2, 3)]
                  for cycle in (follows, keeps)}
        assert [o["status"] for o in orders[follows["id"]]] == ["placed", "waitlisted", "waitlisted"]
        raised = await p.delivery.patch(f"/points/{point}", json={"max_orders_per_cycle": 2},
                                        headers=keys.headers("coordinator", account_id=POINT_REGISTRAR))
        assert raised.status_code == 200, raised.text
        await p.pump()
        second, third = orders[follows["id"]][1:]
        assert (await _order(p, second["id"], 2))["status"] == "placed"
        last = await _order(p, third["id"], 3)
        assert (last["status"], last["waitlist_position"]) == ("waitlisted", 1)
        assert (await _availability(p, point, follows["id"]))["capacity"] == 2
        assert [(await _order(p, o["id"], c))["status"] for o, c in zip(orders[keeps["id"]], (1, 2, 3), strict=True)
                ] == ["placed", "waitlisted", "waitlisted"]
        assert (await _availability(p, point, keeps["id"]))["capacity"] == 1


async def test_a_slot_freed_before_the_waiting_order_is_written_places_it_at_once(migrated, keys, backend):
    """Delivery may give the slot to a waiting booking before orders has marked its order waitlisted:
    the promotion is kept on the pending order and the placement ends with the order placed."""
    async with platform(migrated, keys, backend) as p:
        papa = await p.product()
        point = await p.point()
        cycle = await p.open_cycle(points=[point], capacity={str(point): 1})
        lines = [{"product_id": papa, "quantity": "1"}]
        first = (await p.order(consumer=1, cycle=cycle["id"], point=point, lines=lines)).json()
        delivery = p.transports["delivery"]
        forward, early = delivery.handle_async_request, []

        async def slot_frees_right_after_the_refusal(request):
            response = await forward(request)
            if request.url.path == "/internal/bookings" and response.status_code == 409 and not early:
                assert (await p.orders.post(f"/orders/{first['id']}/cancel", headers=p.consumer(1))).status_code == 200
                early.append(await p.pump(rounds=2))
            return response

        delivery.handle_async_request = slot_frees_right_after_the_refusal
        answer = await p.order(consumer=2, cycle=cycle["id"], point=point, lines=lines, wait_if_full=True)
        delivery.handle_async_request = forward
        assert early and early[0] > 0  # booking.promoted reached orders while the order was pending
        assert answer.status_code == 201, answer.text
        order = answer.json()
        assert order["status"] == "placed" and order["waitlist_position"] is None
        async with p.delivery_db.session() as s:
            booking = (await s.execute(select(Booking).where(Booking.order_id == str(order["id"])))).scalar_one()
        assert (booking.status, booking.pickup_code) == ("confirmed", order["pickup_code"])
        await p.pump()
        assert [(e["order_id"], e["reason"]) for e in await _events(p, "order.promoted")] == [(order["id"], "slot_freed")]
        assert [e["order_id"] for e in await _events(p, "order.placed")] == [first["id"], order["id"]]
        assert (await _order(p, order["id"], 2))["status"] == "placed"
