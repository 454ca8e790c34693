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
