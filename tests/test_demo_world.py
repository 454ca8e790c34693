"""The demo world is valid on any day: its open cycle delivers on the next day, at least two days
ahead, on which all its points open; its closed cycle on the last such day before today."""

from dataclasses import replace
from datetime import date, datetime, time, timedelta

import pytest

from infra.demo_world import DemoWorldError, build_world, check_calendar
from services.common.clock import BOLIVIA
from services.common.schedules import closed_on

MONDAY = date(2026, 11, 23)


@pytest.mark.parametrize("days", range(7), ids=["lunes", "martes", "miércoles", "jueves", "viernes", "sábado",
                                                "domingo"])
def test_demo_cycles_deliver_on_a_day_their_points_open_whatever_the_weekday(days):
    today = MONDAY + timedelta(days=days)
    for hour in (0, 12, 23):  # early, midday and late in Bolivia
        now = datetime.combine(today, time(hour, 30), BOLIVIA)
        world = build_world(now=now)
        check_calendar(world, now=now)
        points = {p.id: {"id": p.id, "name": p.name, "schedule": list(p.schedule)} for p in world.delivery_points}
        opened, closed = world.calendar.open_cycle, world.calendar.closed_cycle
        for cycle in (opened, closed):
            assert len(cycle.point_ids) >= 2
            assert closed_on([points[i] for i in cycle.point_ids], cycle.delivery_date) == []
        assert today + timedelta(days=2) <= opened.delivery_date <= today + timedelta(days=8)
        assert opened.opens_at <= now < opened.closes_at
        assert today - timedelta(days=7) <= closed.delivery_date < today
        assert closed.closes_at < now


def test_a_demo_world_delivering_on_a_closed_day_is_refused():
    now = datetime.combine(MONDAY, time(10), BOLIVIA)
    world = build_world(now=now)
    tuesday = replace(world.calendar.open_cycle, delivery_date=MONDAY + timedelta(days=8))
    world.calendar = replace(world.calendar, open_cycle=tuesday)
    with pytest.raises(DemoWorldError, match=r"martes .* closed: Tambo Rodríguez opens sábado"):
        check_calendar(world, now=now)
