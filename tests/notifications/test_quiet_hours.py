"""Quiet hours in Bolivian time: no WhatsApp or SMS between 21:00 and 07:00, pickup-day reminders
from 06:00, e-mail any time."""

from datetime import UTC, datetime

from gateway.notifications.schedule import BOLIVIA, earliest_send


def la_paz(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=BOLIVIA).astimezone(UTC)


def test_phone_messages_wait_for_seven_in_the_morning_in_bolivia():
    assert earliest_send("whatsapp", la_paz(27, 22, 30)) == la_paz(28, 7)
    assert earliest_send("sms", la_paz(28, 3)) == la_paz(28, 7)
    assert earliest_send("whatsapp", la_paz(27, 20, 59)) == la_paz(27, 20, 59)
    assert earliest_send("sms", la_paz(28, 7)) == la_paz(28, 7)


def test_a_pickup_day_reminder_may_go_from_six():
    assert earliest_send("whatsapp", la_paz(28, 5, 10), pickup_day=True) == la_paz(28, 6)
    assert earliest_send("whatsapp", la_paz(28, 6, 30), pickup_day=True) == la_paz(28, 6, 30)
    assert earliest_send("sms", la_paz(27, 23), pickup_day=True) == la_paz(28, 6)


def test_email_has_no_quiet_hours():
    assert earliest_send("email", la_paz(28, 2)) == la_paz(28, 2)
