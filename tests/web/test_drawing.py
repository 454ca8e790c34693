"""What the pages draw and print, without a server: amounts as Bolivians read them, the cart cookie
that cannot be abused, charts that scale with their data, a QR that encodes the pickup code."""

import re
from decimal import Decimal

import pytest

from gateway.web import views
from gateway.web.shop import safe_next
from gateway.web.svg import Bar, MapPoint, Series, bar_chart, line_chart, points_map, qr_svg


@pytest.mark.parametrize(("value", "shown"), [("12.5", "Bs 12,50"), ("1234.5", "Bs 1.234,50"), ({"amount": "0.05"},
                                              "Bs 0,05"), (None, "—"), ("1000000", "Bs 1.000.000,00")])
def test_amounts_read_as_in_bolivia(value, shown):
    assert views.bs(value) == shown


def test_dates_read_in_spanish():
    assert views.day("2026-11-28") == "sábado 28/11/2026"
    assert views.moment("2026-11-21T06:19:00+00:00") == "21/11/2026 02:19"  # Bolivian time, UTC-4
    assert views.qty("2.500") == "2,5"


def test_cart_cookie_keeps_only_sane_lines():
    cart = views.read_cart("7:2.5|12:1|x:3|5:-1|6:NaN|8:1e9|9:0")
    assert cart == {7: Decimal("2.5"), 12: Decimal("1")}
    assert views.read_cart(views.write_cart(cart)) == cart


@pytest.mark.parametrize("target", ["//evil.example", "https://evil.example/", "\\\\evil", "javascript:x"])
def test_redirects_stay_on_this_site(target):
    assert safe_next(target) == ""
    assert safe_next("/carrito") == "/carrito"


def test_bars_are_proportional_and_escape_labels():
    svg = bar_chart([Bar("Tubérculos <b>", 100, "Bs 100,00"), Bar("Miel", 50, "Bs 50,00")], title="t")
    widths = [float(w) for w in re.findall(r'<rect x="0" y="\d+" width="([\d.]+)"', svg)]
    assert widths[0] == pytest.approx(2 * widths[1])
    assert "<b>" not in svg and "&lt;b&gt;" in svg


def test_lines_skip_missing_values_and_empty_data_says_so():
    svg = line_chart(["a", "b", "c"], [Series("Pagado", [1, None, 3]), Series("Ref", [2, 2, 2], dashed=True)],
                     title="t")
    assert svg.count("<polyline") == 2 and 'stroke-dasharray' in svg
    assert "Sin datos" in line_chart([], [], title="t")


def test_map_marks_points_and_the_consumer():
    svg = points_map([MapPoint("Mercado Camacho", -16.499, -68.1309, number=1, highlight=True),
                      MapPoint("Feria 16 de Julio", -16.4932, -68.1814, number=2)], here=(-16.51, -68.12))
    assert svg.count('class="pt') == 2 and 'class="here"' in svg and "Usted" in svg


def test_qr_is_inline_svg_of_the_code():
    svg = qr_svg("K7M2QX9P")
    assert svg.lstrip().startswith("<svg") and "<path" in svg and len(svg) < 10_000
    import qrcode

    matrix = qrcode.QRCode(border=2)
    matrix.add_data("K7M2QX9P")
    matrix.make(fit=True)
    modules = sum(row.count(True) for row in matrix.get_matrix())
    path = re.search(r' d="([^"]+)"', svg).group(1)
    assert path.count("z") == modules  # one square per dark module
