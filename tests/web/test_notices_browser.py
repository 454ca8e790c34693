"""The pages added for notifications and training, as a person opens them on a 360 px phone in
Chromium: the consumer's "Avisos" and an organization's view of its members' training. Each fits the
screen, breaks no rule of the content security policy and has no serious accessibility violation."""

from tests.web.conftest import accessible, shot
from tests.web.test_browser import fits_the_phone, log_in


def test_a_consumer_reads_her_avisos_on_a_phone(phone, platform):
    log_in(phone, platform.url, "consumidor3")
    phone.goto(platform.url + "/avisos")
    assert "Avisos" in phone.inner_text("h1")
    shot(phone, "avisos-01")
    fits_the_phone(phone)
    accessible(phone, "avisos")


def test_an_organization_follows_its_members_training_on_a_phone(phone, platform):
    log_in(phone, platform.url, "organizacion1")
    phone.goto(platform.url + "/capacitacion/organizacion")
    assert "Capacitación de los socios" in phone.inner_text("h1")
    assert phone.locator("table").count() == 1  # one row per member, one column per module
    shot(phone, "capacitacion-05-socios")
    fits_the_phone(phone)
    accessible(phone, "capacitación de los socios")
