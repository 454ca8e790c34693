"""Full cases, Foodsoft's rule: firm quantities decide the cases, tolerance only tops up the last one."""

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.orders.case_allocation import Demand, allocate_cases, cases_to_order

D = Decimal


@pytest.mark.parametrize(("firm", "tolerance", "cases"), [(0, 5, 0), (2, 2, 1), (5, 3, 2), (4, 0, 1), (3, 0, 0)])
def test_worked_cases_for_a_case_of_four(firm, tolerance, cases):
    assert cases_to_order(case_size=D(4), firm_total=D(firm), tolerance_total=D(tolerance)) == cases


def test_first_order_first_served_firm_before_tolerance_and_cuts_are_reported():
    result = allocate_cases(case_size=D(4), demands=[
        Demand("a", D(1), D(2)), Demand("b", D(2), D(0)), Demand("c", D(2), D(1))])
    # firm 5, tolerance 3 -> 2 cases = 8: every firm quantity, then a's 2 and c's 1 tolerance
    assert result.cases == 2
    assert [(a.key, a.allocated, a.cut) for a in result.lines] == [("a", D(3), 0), ("b", D(2), 0), ("c", D(3), 0)]
    short = allocate_cases(case_size=D(4), demands=[Demand("a", D(3)), Demand("b", D(2)), Demand("c", D(2))])
    # firm 7, no tolerance -> 1 case: a gets 3, b gets 1 (cut by 1), c nothing (cut by 2)
    assert short.cases == 1
    assert [(a.key, a.allocated, a.cut) for a in short.lines] == [("a", D(3), 0), ("b", D(1), 1), ("c", D(0), 2)]


quantities = st.decimals(min_value=0, max_value=20, places=1, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(case_size=st.sampled_from([D(1), D(4), D(6), D(12), D("2.5")]),
       demands=st.lists(st.tuples(quantities, quantities), max_size=12))
def test_allocation_never_exceeds_cases_and_serves_firm_before_tolerance(case_size, demands):
    result = allocate_cases(case_size=case_size, demands=[
        Demand(str(i), q, t) for i, (q, t) in enumerate(demands)])
    assert result.allocated_total <= result.cases * case_size
    assert result.allocated_total <= result.firm_total + result.tolerance_total
    for a in result.lines:
        assert 0 <= a.firm_served <= a.quantity and 0 <= a.tolerance_served <= a.tolerance
    if any(a.tolerance_served > 0 for a in result.lines):
        assert all(a.firm_served == a.quantity for a in result.lines)
    # firm quantities are served in order: once one is cut, every later one gets nothing firm
    cut_seen = False
    for a in result.lines:
        if cut_seen:
            assert a.firm_served == 0
        if a.firm_served < a.quantity:
            cut_seen = True
    # the cases are filled as far as demand goes
    assert result.allocated_total == min(result.cases * case_size, result.firm_total + result.tolerance_total)
