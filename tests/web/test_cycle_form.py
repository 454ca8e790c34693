"""The coordinator's cycle form and cycle page rules, without servers: what she types becomes the
orders service's request, each mistake is named in Spanish beside its field, and the cycle page's
figures (slots, stock running low, agrobolsa prices, the route map) come out right."""

from decimal import Decimal

from gateway.web.cycle_form import blank_form, read_cycle_form
from gateway.web.cycle_watch import basket_rows, order_summary, point_rows, running_low
from gateway.web.svg import MapPoint, RouteLeg, route_map

POINTS = {4: "Feria de Sopocachi", 7: "Mercado Rodríguez"}
PRODUCTS = {11: "Papa huaycha", 12: "Haba verde", 13: "Queso fresco"}


def filled(**changes) -> dict[str, list[str]]:
    form = {"nombre": ["Ciclo de la semana"], "abre": ["2026-12-01T08:00"], "cierra": ["2026-12-03T20:00"],
            "entrega": ["2026-12-05"], "punto": ["4", "7"], "cupo_4": ["3"], "cupo_7": ["5"],
            "productos": ["todos"], "tarifa_1_tipo": ["packing"], "tarifa_1_base": ["flat"],
            "tarifa_1_valor": ["1,50"], "tarifa_2_tipo": ["transport"], "tarifa_2_base": ["percent"],
            "tarifa_2_valor": ["5"], "tarifa_2_paga": ["producer"],
            "bolsa_1_nombre": ["Agrobolsa andina"], "bolsa_1_producto_1": ["11 · Papa huaycha (kg, Bs 6,00)"],
            "bolsa_1_cantidad_1": ["2,5"], "bolsa_1_producto_2": ["12"], "bolsa_1_cantidad_2": ["1"]}
    form.update({k: v if isinstance(v, list) else [v] for k, v in changes.items()})
    return form


def test_a_filled_form_becomes_a_draft_cycle_with_capacities_fees_and_its_agrobolsa():
    read = read_cycle_form(filled(), points=POINTS, products=PRODUCTS)
    assert read.errors == {}
    assert read.cycle == {
        "name": "Ciclo de la semana", "opens_at": "2026-12-01T12:00:00+00:00",  # 08:00 in Bolivia is 12:00 UTC
        "closes_at": "2026-12-04T00:00:00+00:00", "delivery_date": "2026-12-05", "delivery_point_ids": [4, 7],
        "product_ids": None, "point_capacity": {"4": 3, "7": 5},
        "fee_rules": [{"kind": "packing", "basis": "flat", "value": "1.5", "payer": "consumer"},
                      {"kind": "transport", "basis": "percent", "value": "5", "payer": "producer"}],
        "status": "draft"}
    assert read.baskets == [{"name": "Agrobolsa andina", "description": "",
                             "lines": [{"product_id": 11, "quantity": "2.5"}, {"product_id": 12, "quantity": "1"}]}]


def test_each_mistake_is_said_in_spanish_beside_its_field_and_nothing_is_sent():
    read = read_cycle_form(filled(nombre="", cierra="2026-11-30T08:00", punto=["99"], cupo_4="tres",
                                  productos="elegidos", producto=[], tarifa_2_valor="150",
                                  bolsa_1_cantidad_2="0", bolsa_2_producto_1="13"),
                           points=POINTS, products=PRODUCTS)
    assert read.cycle == {}
    assert read.errors == {
        "nombre": "Escriba el nombre del ciclo.",
        "cierra": "El cierre tiene que ser después de la apertura.",
        "punto": "Elija al menos un punto de entrega.",  # a point the form never offered counts as none
        "producto": "Elija al menos un producto, o marque «todos los productos».",
        "tarifa_2_valor": "Tarifa 2: un porcentaje es de 0 a 100.",
        "bolsa_1_producto_1": "Agrobolsa 1: «Papa huaycha» no está entre los productos del ciclo.",
        "bolsa_1_producto_2": "Agrobolsa 1: «Haba verde» no está entre los productos del ciclo.",
        "bolsa_2_producto_1": "Agrobolsa 2: «Queso fresco» no está entre los productos del ciclo.",
        "bolsa_2_nombre": "Dé un nombre a la agrobolsa 2.",
    }


def test_a_capacity_that_is_not_a_whole_number_names_its_point():
    read = read_cycle_form(filled(cupo_7="2,5", entrega="2026-12-02"), points=POINTS, products=PRODUCTS)
    assert read.errors == {"cupo_7": "El cupo de «Mercado Rodríguez» es un número entero de pedidos (0 o más).",
                           "entrega": "La entrega no puede ser antes del cierre del ciclo."}
    read = read_cycle_form(filled(bolsa_1_cantidad_2="0"), points=POINTS, products=PRODUCTS)
    assert read.errors == {"bolsa_1_cantidad_2": "Agrobolsa 1, fila 2: escriba la cantidad (más que cero)."}


def test_the_cycle_page_counts_slots_waiting_orders_low_stock_and_agrobolsa_prices():
    orders = [{"id": 1, "status": "placed", "delivery_point_id": 4, "total": "20.00", "paid": True,
               "lines": [{"product_id": 11, "quantity": "4"}]},
              {"id": 2, "status": "waitlisted", "delivery_point_id": 4, "total": "12.50", "paid": False,
               "lines": [{"product_id": 11, "quantity": "3"}, {"product_id": 12, "quantity": "1"}]},
              {"id": 3, "status": "cancelled", "delivery_point_id": 7, "total": "9.00", "paid": False, "lines": []}]
    assert order_summary(orders) == {"orders": 1, "value": 2000, "waitlisted": 1, "cancelled": 1, "unpaid": 0}
    cycle = {"delivery_point_ids": [4, 7], "point_capacity": {"4": 3}}
    rows = point_rows(cycle=cycle, points={4: {"name": "Feria"}, 7: {"name": "Mercado"}},
                      availability={4: {"capacity": 30, "booked": 3, "waitlisted": 1},
                                    7: {"capacity": 40, "booked": 0, "waitlisted": 0}},
                      staff=[{"point_id": 4, "account_id": 9}], names={9: "Rosa"})
    assert [(r["name"], r["capacity"], r["slots_left"], r["waitlisted"], [s["name"] for s in r["staff"]])
            for r in rows] == [("Feria", 3, 0, 1, ["Rosa"]), ("Mercado", 40, 40, 0, [])]
    products = {11: {"name": "Papa", "available": "5", "price": "6.00", "unit": "kg"},
                12: {"name": "Haba", "available": "10", "price": "4.35", "unit": "kg"}}
    assert [(p["name"], p["left"], p["sold"]) for p in running_low(orders=orders, products=products)] == [
        ("Papa", Decimal("5"), Decimal("7"))]
    basket = {"id": 1, "name": "Andina", "lines": [{"product_id": 11, "quantity": "2.5"},
                                                   {"product_id": 12, "quantity": "1.5"}]}
    assert basket_rows(baskets=[basket], products=products)[0]["price"] == 2153  # 15,00 + 6,525 -> 6,53
    assert basket_rows(baskets=[basket], products={11: products[11]})[0]["price"] is None


def test_the_route_map_draws_each_vehicle_its_stops_and_points_left_out():
    figure = str(route_map([RouteLeg(1, [MapPoint("1. Feria", -16.51, -68.12, number=1),
                                         MapPoint("2. Mercado", -16.50, -68.13, number=2)]),
                            RouteLeg(2, [MapPoint("1. Plaza <b>", -16.52, -68.11, number=1)])],
                           depot=(-16.50, -68.15), others=[MapPoint("Sin parada", -16.53, -68.10)]))
    assert figure.count('<polyline') == 2 and figure.count('class="stop"') == 3
    assert figure.count('class="off"') == 1 and 'class="hub"' in figure
    assert "Plaza &lt;b&gt;" in figure and "<b>" not in figure


def test_a_new_form_delivers_on_the_day_most_points_open_after_the_close(monkeypatch):
    from datetime import UTC, datetime

    from services.common import clock

    monkeypatch.setattr(clock, "now", lambda: datetime(2026, 11, 25, 14, 0, tzinfo=UTC))  # a Wednesday
    saturday = [{"weekday": 5, "opens": "08:00", "closes": "13:00"}]
    points = [{"schedule": saturday}, {"schedule": [*saturday, {"weekday": 6, "opens": "08:00", "closes": "12:00"}]},
              {"schedule": [{"weekday": 0, "opens": "08:00", "closes": "12:00"}]}]
    form = blank_form(points)
    assert form["abre"] == ["2026-11-25T10:00"] and form["cierra"] == ["2026-11-28T20:00"]
    assert form["entrega"] == ["2026-12-05"]  # Saturday the 28th closes; the next Saturday has two points


def test_points_closed_on_the_delivery_day_are_named_with_the_days_they_open():
    from gateway.web.coordinator import _refusal
    from gateway.web.session import UpstreamError

    refusal = UpstreamError("Ese punto no abre el día de entrega; elija otro.", code="point_closed_on_delivery_day",
                            status=422, details={"weekday": "martes", "points": [
                                {"id": 4, "name": "Feria de Sopocachi", "open_days": ["sábado", "domingo"]}]})
    assert _refusal(refusal) == ("El día de entrega es martes y estos puntos no abren ese día: «Feria de Sopocachi» "
                                 "abre sábado y domingo. Elija otra fecha o quite esos puntos.")
    assert _refusal(UpstreamError("Su cuenta no puede hacer esto.", code="role_required")) == \
        "Su cuenta no puede hacer esto."


def test_refused_payments_say_the_amounts_as_people_read_them():
    from gateway.web.coordinator import _payment_refusal
    from gateway.web.session import UpstreamError

    over = UpstreamError("the payment exceeds what is due on order 7", code="overpayment", details={"due": "1234.5"})
    assert _payment_refusal(over, "7") == "Pedido #7: el pago supera lo que se debe (Bs 1.234,50)."
    other = UpstreamError("Su cuenta no puede hacer esto.", code="role_required")
    assert _payment_refusal(other, "7") == "Su cuenta no puede hacer esto."
