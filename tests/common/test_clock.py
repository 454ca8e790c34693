"""The platform's clock: `MC_TODAY` moves "today" (in Bolivia) and keeps the time of day running."""

from datetime import UTC, date, datetime, timedelta

import pytest

from services.common import clock
from services.common.tables import utcnow


def test_mc_today_moves_today_and_now_to_that_day(monkeypatch):
    monkeypatch.setenv("MC_TODAY", "2026-12-02")
    assert clock.today() == date(2026, 12, 2)
    assert clock.now().astimezone(clock.BOLIVIA).date() == date(2026, 12, 2)
    assert utcnow().astimezone(clock.BOLIVIA).date() == date(2026, 12, 2)  # every service's clock
    real = datetime.now(UTC).astimezone(clock.BOLIVIA)
    moved = clock.now().astimezone(clock.BOLIVIA)
    assert (moved - real) % timedelta(days=1) < timedelta(minutes=1)  # the same time of day, whole days moved


def test_without_mc_today_the_clock_is_the_real_one(monkeypatch):
    monkeypatch.delenv("MC_TODAY", raising=False)
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(minutes=1)


def test_a_malformed_mc_today_says_what_it_expects(monkeypatch):
    monkeypatch.setenv("MC_TODAY", "el martes")
    with pytest.raises(ValueError, match="MC_TODAY must be a date like"):
        clock.today()


def test_outside_development_a_moved_clock_stops_the_process(monkeypatch):
    from services.orders.settings import Settings

    monkeypatch.setenv("MC_TODAY", "2026-12-02")
    monkeypatch.setenv("MC_ENV", "production")
    with pytest.raises(RuntimeError, match="MC_TODAY moves the clock for demos and tests"):
        Settings()
