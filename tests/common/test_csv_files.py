"""CSV exports cannot carry spreadsheet formulas (CSV injection), whoever typed the text."""

import csv
import io

import pytest

from gateway.monitoring.csv_export import to_csv
from services.common.csv_files import csv_text, neutralise
from services.orders.exports import consolidation_csv
from services.payments.reports import statement_csv


@pytest.mark.parametrize("typed", ['=HYPERLINK("http://x.bo","pago")', "+591 7123", "-1+2", "@SUM(A1)",
                                   "\t=1", "\r=1", "-", "=", "+"])
def test_a_cell_a_spreadsheet_would_run_is_kept_as_text(typed):
    assert neutralise(typed) == "'" + typed


@pytest.mark.parametrize("number", ["-12.50", "+3", "-0.5", "1e3", "45", "-.5"])
def test_plain_numbers_stay_numbers(number):
    assert neutralise(number) == number


def _cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def test_no_export_writes_a_formula():
    evil = '=HYPERLINK("http://phish.example","Cobrar")'
    consolidation = consolidation_csv({
        "cycle": {"id": 1, "name": evil, "delivery_date": "2026-03-14"},
        "producers": [{"producer_id": 1, "producer_name": evil, "organization_id": None, "products": [
            {"product_id": 2, "product_name": "@cmd", "unit": "kg", "unit_price": "8.00", "quantity": "3",
             "value": "24.00", "kg": "3", "by_point": [{"delivery_point_id": 1, "quantity": "3"}]}]}],
        "delivery_points": [{"delivery_point_id": 1, "bags": [{"order_id": 9, "consumer_account_id": 5,
                                                               "consumer_name": "+1 (evil)", "pickup_code": "-X",
                                                               "total": "24.00", "lines": [
            {"product_name": "@cmd", "producer_name": evil, "quantity": "3", "unit": "kg", "line_total": "24.00"}]}]}],
        "organizations": [{"organization_id": None, "producers": 1, "value": "24.00", "kg": "3"}]})
    statement = statement_csv({
        "consignments": [{"consignment_id": 3, "lines": [{"product_name": evil, "ordered_quantity": "3",
                                                          "received_quantity": "3", "rejected_quantity": "0",
                                                          "unit": "kg", "unit_price": "8.00",
                                                          "accepted_value": "24.00"}],
                          "fees": [{"rate": "0.05", "amount": "1.20"}]}],
        "advances": [], "repayments": [], "totals": {"net_payable": "22.80"}})
    monitoring = to_csv([("alcance", "", "", "", "municipality", "=1+1")])
    for text in (consolidation, statement, monitoring):
        cells = _cells(text)
        assert not [c for c in cells if c.startswith(("=", "+", "@", "\t", "\r"))]
        assert not [c for c in cells if c.startswith("-") and neutralise(c) != c]
    assert "-1.20" in _cells(statement)  # a fee stays a negative number
    assert "'" + evil in _cells(consolidation)


def test_none_is_an_empty_cell():
    assert csv_text([[None, 1, "a"]], header=["x", "y", "z"]) == "x,y,z\r\n,1,a\r\n"
