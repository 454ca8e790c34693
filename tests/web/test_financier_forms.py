"""What the financier types into her forms, read as people in Bolivia write it, and a clear Spanish
message for what she must correct (the page shows it; the API is never called with it)."""

from datetime import date

import pytest

from gateway.web.financier import BadForm, amount, due_and_overdue, policy_fields

FIELDS = {"rate": "80", "fee_kind": "percent", "fee_value": "1,5", "min_amount": "10,00",
          "max_amount": "5.000,00", "producer_limit": "10.000,00", "auto_approve_up_to": ""}


@pytest.mark.parametrize(("typed", "sent"), [("1.500,50", "1500.50"), ("1500.50", "1500.50"), ("12,3", "12.30"),
                                             (" 7 ", "7.00")])
def test_amounts_are_read_as_typed_in_bolivia(typed, sent):
    assert amount(typed, "el monto") == sent


def test_a_policy_form_becomes_the_apis_request():
    assert policy_fields(**FIELDS) == {
        "advance_rate": "0.8000", "fee_kind": "percent", "fee_value": "1.5", "min_amount": "10.00",
        "max_amount": "5000.00", "producer_limit": "10000.00", "auto_approve_up_to": None}
    assert policy_fields(**{**FIELDS, "fee_kind": "flat", "fee_value": "2,50"})["fee_value"] == "2.50"


@pytest.mark.parametrize(("field", "typed", "message"), [
    ("rate", "0", "El porcentaje que se adelanta va de 1 a 100."),
    ("rate", "120", "El porcentaje que se adelanta va de 1 a 100."),
    ("fee_value", "dos", "Escriba el costo administrativo con números, p. ej. 1,5."),
    ("min_amount", "", "Escriba el monto mínimo."),
    ("max_amount", "-5", "El monto máximo debe ser mayor que cero."),
    ("producer_limit", "diez mil", "Escriba el límite por productora con números, p. ej. 1.500,00."),
    ("fee_kind", "weekly", "Elija cómo se cobra el costo administrativo."),
])
def test_a_wrong_field_is_named_in_spanish(field, typed, message):
    with pytest.raises(BadForm) as refused:
        policy_fields(**{**FIELDS, field: typed})
    assert str(refused.value) == message


def test_what_is_overdue_is_past_its_collection_date_or_uncollectible():
    advances = [{"id": 1, "status": "disbursed", "expected_collection_on": "2026-11-20"},
                {"id": 2, "status": "disbursed", "expected_collection_on": "2026-12-01"},
                {"id": 3, "status": "producer_debt", "expected_collection_on": "2026-12-05"},
                {"id": 4, "status": "repaid", "expected_collection_on": "2026-11-01"},
                {"id": 5, "status": "requested", "expected_collection_on": "2026-11-01"}]
    due, overdue = due_and_overdue(advances, date(2026, 11, 26))
    assert [a["id"] for a in due] == [2] and [a["id"] for a in overdue] == [1, 3]
