"""Capacitación in a real Chromium on a 360 px phone: a producer opens a module and answers a quiz;
the connection drops; she opens the next lesson from what the phone kept, answers it offline; the
connection returns and her answer is sent by itself; the lesson counts as done exactly once."""

import time

from gateway.training.lessons import catalogue
from tests.web.conftest import accessible, shot
from tests.web.test_browser import fits_the_phone, log_in

VENDER = next(m for m in catalogue() if m.slug == "01-vender")
CACHE = "mc-capacitacion-v1"


def answer(page, lesson) -> None:
    for index, question in enumerate(lesson.questions):
        page.check(f"input[name=q{index}][value='{question.answer}']")
    page.click("form.quiz button.primary")


def until(page, expression: str, seconds: float = 20) -> None:
    """Wait until a (possibly asynchronous) expression in the page is true."""
    deadline = time.monotonic() + seconds
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"still false after {seconds}s: {expression}"
        time.sleep(0.2)


def test_producer_finishes_a_lesson_offline_and_it_counts_once_when_back_online(phone, platform):
    base = platform.url
    first, second = VENDER.lessons[0], VENDER.lessons[1]
    log_in(phone, base, "productor1")
    phone.goto(base + "/capacitacion")
    assert VENDER.title in phone.inner_text("main")
    shot(phone, "capacitacion-01-modulos")
    accessible(phone, "capacitacion-01-modulos")
    fits_the_phone(phone)
    phone.click(f"a[href='/capacitacion/{VENDER.slug}']")
    phone.wait_for_load_state()
    # the service worker keeps every lesson of the module once the module was opened
    until(phone, "navigator.serviceWorker.getRegistration().then(r => !!(r && r.active))")
    phone.reload()  # the worker now controls the page, which asks it again to keep the lessons
    until(phone, "navigator.serviceWorker.controller !== null")
    until(phone, f"caches.open('{CACHE}').then(c => c.keys()).then(keys => keys.filter("
                 f"r => new URL(r.url).pathname.split('/').length === 4).length >= {len(VENDER.lessons)})")
    shot(phone, "capacitacion-02-modulo")
    accessible(phone, "capacitacion-02-modulo")

    phone.click(f"a[href='/capacitacion/{VENDER.slug}/{first.slug}']")
    phone.wait_for_load_state()
    assert first.title in phone.inner_text("h1")
    answer(phone, first)
    phone.wait_for_load_state()
    assert "Lección completada" in phone.inner_text("main")
    shot(phone, "capacitacion-03-leccion")
    accessible(phone, "capacitacion-03-leccion")
    fits_the_phone(phone)

    phone.context.set_offline(True)
    phone.click(f"a[href='/capacitacion/{VENDER.slug}/{second.slug}']")
    phone.wait_for_load_state()
    assert second.title in phone.inner_text("h1")  # read from what the phone kept
    answer(phone, second)
    status = phone.locator(".queued")
    status.wait_for(state="visible")
    assert "se enviarán al volver la señal" in status.inner_text()
    shot(phone, "capacitacion-04-sin-conexion")

    phone.context.set_offline(False)
    phone.evaluate("window.dispatchEvent(new Event('online'))")
    until(phone, "document.querySelector('.queued').textContent.includes('se enviaron')")
    token = platform.login("productor1")
    mine = platform.request("GET", "/api/training/progress", token=token)
    lessons = {lesson["lesson"]: lesson for m in mine["modules"] for lesson in m["lessons"]}
    assert lessons[first.slug]["done"] and lessons[first.slug]["attempts"] == 1
    assert lessons[second.slug]["done"] and lessons[second.slug]["attempts"] == 1
    assert phone.evaluate("JSON.parse(localStorage.getItem('mc-queued-forms') || '[]').length") == 0
