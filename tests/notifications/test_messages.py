"""The texts people get: one SMS each (160 characters) with usual names, amounts as `Bs 1.234,50`,
the pickup place and its hours on the day."""

from datetime import UTC, date, datetime

from gateway.notifications import messages as m
from gateway.notifications.directory import PointInfo

POINT = PointInfo("Feria Zonal Villa Fátima, puesto 12", ({"weekday": 5, "opens": "08:00", "closes": "13:00"},))
SATURDAY = date(2026, 11, 28)
FRIDAY_NOON = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)  # 12:00 in Bolivia


def test_every_message_fits_one_sms_with_usual_names_and_amounts():
    texts = [
        m.order_placed(order_id=123456, total="1234.50", point=POINT, day=SATURDAY, code="K7P2Q9"),
        m.order_waitlisted(order_id=123456, point=POINT, position=12),
        m.order_promoted(order_id=123456, point=POINT, day=SATURDAY, code="K7P2Q9"),
        m.pickup_reminder(order_id=123456, point=POINT, day=SATURDAY, today=False),
        m.pickup_reminder(order_id=123456, point=POINT, day=SATURDAY, today=True),
        m.order_cancelled(order_id=123456, total="1234.50"),
        m.goods_received(point=POINT, accepted_value="12345.00", rejected=["2,5 kg tomate perita (golpeado)"]),
        m.advance_disbursed(principal="12500.00", fee="250.00"),
        m.advance_repaid(principal_repaid="12500.00", fee_repaid="250.00", outstanding="1000.00"),
        m.refund_made(order_id=123456, amount="1234.50", method="transfer"),
        m.cycle_opened(cycle_name="Feria del sábado de Villa Fátima", closes_at=FRIDAY_NOON, day=SATURDAY),
        m.cycle_closing_soon(cycle_name="Feria del sábado de Villa Fátima", closes_at=FRIDAY_NOON, placed=1234,
                             waitlisted=56),
        m.point_nearly_full(cycle_name="Feria del sábado de Villa Fátima", point=POINT, booked=80, capacity=100),
        m.settlement_ready(cycle_name="Feria del sábado de Villa Fátima"),
        m.settlement_ready(cycle_name="Feria del sábado de Villa Fátima", net_payable="12345.50"),
        m.advance_requested(advance_id=123456, producer_id=123456, principal="12500.00", fee="250.00"),
        m.advance_approved(principal="12500.00", fee="250.00"),
        m.session_revoked(),
    ]
    for text in texts:
        assert len(text) <= m.SMS_LIMIT, text
    assert "Bs 1.234,50" in texts[0] and "sáb 28/11 de 08:00 a 13:00 en Feria Zonal Villa Fátima" in texts[0]


def test_a_long_pick_list_is_whole_in_the_inbox_and_cut_for_sms():
    items = [f"{n} kg producto número {n}" for n in range(1, 15)]
    text = m.pick_list(cycle_name="Feria del sábado", day=SATURDAY, stops=[(POINT, items)])
    assert "14 kg producto número 14" in text
    short = m.sms_text(text)
    assert len(short) == m.SMS_LIMIT and short.endswith("…") and short.startswith(text[:100])


def test_a_pickup_without_known_hours_names_only_the_place():
    text = m.order_placed(order_id=7, total="10", point=PointInfo("Mercado Lanza"), day=None, code=None)
    assert text == "Pedido #7 confirmado: Bs 10,00. Recójalo en Mercado Lanza."


def test_cycle_times_are_told_in_bolivian_time_and_refunds_name_the_method():
    assert m.cycle_opened(cycle_name="Feria", closes_at=FRIDAY_NOON, day=SATURDAY) == (
        "Abrió el ciclo Feria: pedidos hasta el vie 27/11 a las 12:00, entrega el sáb 28/11. Revise su oferta y su "
        "stock en Mercado Corto.")
    assert m.cycle_closing_soon(cycle_name="Feria", closes_at=FRIDAY_NOON, placed=23, waitlisted=0) == (
        "El ciclo Feria cierra el vie 27/11 a las 12:00: 23 pedidos confirmados.")
    assert m.refund_made(order_id=41, amount="12.5", method="cash") == "Le devolvimos Bs 12,50 de su pedido #41 (efectivo)."
