"""Cursors are opaque, round-trip, and a forged one is a clear 422."""

import pytest

from services.common.errors import InvalidInput
from services.common.pagination import decode_cursor, encode_cursor, make_page


def test_cursor_round_trips_sort_keys():
    cursor = encode_cursor(["Plátano", 42])
    assert decode_cursor(cursor) == ["Plátano", 42]


@pytest.mark.parametrize("bad", ["not-base64!!", "e30", "aGVsbG8"])
def test_forged_cursor_is_refused(bad):
    with pytest.raises(InvalidInput):
        decode_cursor(bad)


def test_page_has_next_cursor_only_when_more_rows_exist():
    rows = [{"id": i} for i in range(6)]
    page, nxt = make_page(rows, 5, key=lambda r: [r["id"]])
    assert len(page) == 5 and decode_cursor(nxt) == [4]
    page, nxt = make_page(rows[:3], 5, key=lambda r: [r["id"]])
    assert len(page) == 3 and nxt is None
