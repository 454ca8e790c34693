"""Money is exact to the centavo and Bolivian units convert exactly."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from services.common.money import (
    Amount,
    PositiveAmount,
    apply_rate,
    format_bs,
    from_centavos,
    percent_of,
    to_centavos,
)
from services.common.units import Quantity, Unit, UnitField, convert, kg_of, parse_unit, to_base


class Priced(BaseModel):
    price: PositiveAmount
    delta: Amount = Decimal("0")


class Line(BaseModel):
    unit: UnitField
    quantity: Quantity


def test_amounts_are_read_exactly_and_written_as_strings():
    assert Priced(price="12.50").model_dump(mode="json") == {"price": "12.50", "delta": "0.00"}
    assert Priced(price=0.1).price == Decimal("0.10")  # a JSON number is read by its decimal text
    assert Priced(price=7).model_dump(mode="json")["price"] == "7.00"


@pytest.mark.parametrize("bad", ["-1", "12.505", "abc", "NaN", "Infinity", "1e12", True])
def test_bad_amounts_are_refused_with_a_reason(bad):
    with pytest.raises(ValidationError) as err:
        Priced(price=bad)
    assert err.value.errors()[0]["msg"]


def test_percent_and_rate_round_half_up_to_the_centavo():
    assert percent_of(1250, "10") == 125
    assert percent_of(1005, "5") == 50  # 50.25 -> 50
    assert percent_of(1010, "5") == 51  # 50.5 -> 51
    assert apply_rate(333, "0.5") == 167  # 166.5 -> 167
    assert format_bs(123450) == "Bs 1.234,50"
    assert format_bs(-5) == "-Bs 0,05"


@given(st.integers(min_value=-10**12, max_value=10**12))
def test_centavos_round_trip(centavos):
    assert to_centavos(from_centavos(centavos)) == centavos


def test_bolivian_units_convert_exactly():
    assert to_base(Decimal("2"), Unit.arroba) == Decimal("23.0")
    assert to_base(Decimal("1"), Unit.quintal) == Decimal("46")
    assert convert(Decimal("1"), Unit.quintal, Unit.arroba) == Decimal("4")
    assert convert(Decimal("1"), Unit.arroba, Unit.libra) == Decimal("25")
    assert to_base(Decimal("3"), Unit.docena) == Decimal("36")
    assert kg_of(Decimal("500"), Unit.g) == Decimal("0.500")
    assert kg_of(Decimal("2"), Unit.atado) is None
    with pytest.raises(ValueError):
        convert(Decimal("1"), Unit.kg, Unit.unidad)


def test_unit_names_people_write_are_understood_and_unknown_ones_list_the_valid_units():
    assert parse_unit("Arrobas") == Unit.arroba
    assert parse_unit("qq") == Unit.quintal
    assert Line(unit="kilos", quantity="1.5").model_dump(mode="json") == {"unit": "kg", "quantity": "1.5"}
    with pytest.raises(ValidationError) as err:
        Line(unit="fanega", quantity="1")
    assert "quintal" in str(err.value) and "arroba" in str(err.value)
    with pytest.raises(ValidationError):
        Line(unit="kg", quantity="-2")
    with pytest.raises(ValidationError):
        Line(unit="kg", quantity="0.0001")


@pytest.mark.parametrize(("value", "text"), [
    (Decimal("3.000"), "3"), (Decimal("2.500"), "2.5"), (Decimal("0.125"), "0.125"), (Decimal("1E+2"), "100"),
    (Decimal("0.000"), "0"), (None, "0"), (7, "7"), (Decimal("12.3456"), "12.346"),
])
def test_quantities_are_written_without_trailing_zeros_to_the_thousandth(value, text):
    from services.common.units import quantity_text

    assert quantity_text(value) == text
