"""Fixtures for page tests: the whole platform as real servers, and headless Chromium (Debian's
`chromium` package) driven by Playwright, with a 360 px wide phone.

Without /usr/bin/chromium the browser tests are skipped with the reason; with CI=true that is a
failure, so CI can never pass without running them. `MC_BROWSER_TEST_GATEWAY=http://...` points
the tests at a platform already running (loaded with the demo world) instead of starting one.
"""

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.web.platform import ROOT, Platform, running_platform

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ARTIFACTS = ROOT / "test-artifacts" / "web"
PHONE = {"viewport": {"width": 360, "height": 740}, "device_scale_factor": 1, "is_mobile": True,
         "has_touch": True, "locale": "es-BO", "timezone_id": "America/La_Paz"}
# where the consumer stands: Plaza Abaroa, Sopocachi (La Paz)
CONSUMER_AT = {"latitude": -16.5105, "longitude": -68.1253}


@pytest.fixture(scope="session")
def platform(tmp_path_factory) -> Platform:
    given = os.environ.get("MC_BROWSER_TEST_GATEWAY")
    if given:
        from urllib.parse import urlparse

        yield Platform(Path("."), ports={"gateway": urlparse(given).port})
        return
    with running_platform(tmp_path_factory.mktemp("platform")) as running:
        yield running


@pytest.fixture(scope="session")
def saturday_cycle(platform) -> dict:
    """An open cycle delivering next Saturday at every point open on Saturdays (most points)."""
    token = platform.login("coordinacion")
    today = datetime.now(UTC)
    saturday = date.today() + timedelta(days=(5 - date.today().weekday()) % 7 or 7)
    points = platform.request("GET", "/api/delivery/points?weekday=5&limit=100")["items"]
    return platform.request("POST", "/api/orders/cycles", token=token, key=f"web-cycle-{saturday}-{os.getpid()}",
                            body={"name": f"Ciclo de prueba del sábado {saturday:%d/%m}",
                                  "opens_at": (today - timedelta(hours=1)).isoformat(),
                                  "closes_at": datetime.combine(saturday, datetime.min.time(), UTC).isoformat(),
                                  "delivery_date": saturday.isoformat(),
                                  "delivery_point_ids": [p["id"] for p in points], "status": "open",
                                  "fee_rules": [{"kind": "packing", "basis": "flat", "value": "1.50"},
                                                {"kind": "transport", "basis": "percent", "value": "5"}]})


@pytest.fixture(scope="module")
def chromium():
    """Headless Chromium for one test module. Module-scoped on purpose: Playwright's synchronous API
    keeps an event loop running while it is open, and async tests that follow need the thread free."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is not installed (Debian package `chromium`); browser tests need it"
        if IN_CI:
            pytest.fail(reason + " (CI=true: browser tests must run)")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def phone(chromium):
    """A fresh 360 px phone (empty cache, no cookies), which may give its location."""
    context = chromium.new_context(**PHONE, geolocation=CONSUMER_AT, permissions=["geolocation"])
    context.set_default_timeout(40_000)
    page = context.new_page()
    page.console_errors = []  # CSP violations and script errors show up here
    page.on("console", lambda message: message.type == "error" and page.console_errors.append(message.text))
    page.on("pageerror", lambda error: page.console_errors.append(str(error)))
    yield page
    context.close()


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def accessible(page, what: str) -> None:
    """axe-core (the axe-playwright-python package bundles it) on the page as it stands: no serious
    or critical violation, each one named with the elements it concerns."""
    from axe_playwright_python.sync_playwright import Axe

    violations = Axe().run(page).response["violations"]
    bad = [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
           for v in violations if v.get("impact") in ("serious", "critical")]
    assert not bad, f"{what}: accessibility violations:\n" + "\n".join(bad)


def weigh(chromium, page, name: str, limit: int = 150 * 1024) -> int:
    """What the page's first load transfers (HTML, CSS, JS, images; compressed as sent), counted by
    Chromium on a phone with an empty cache and the same session; all of it from this site."""
    context = chromium.new_context(**PHONE, storage_state=page.context.storage_state())
    fresh = context.new_page()
    finished = []
    fresh.on("requestfinished", lambda request: finished.append(request))
    fresh.goto(page.url, wait_until="load")
    fresh.wait_for_load_state("networkidle")
    total = sum(r.sizes()["responseBodySize"] + r.sizes()["responseHeadersSize"] for r in finished)
    hosts = {urlparse(r.url).netloc for r in finished}
    context.close()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with open(ARTIFACTS / "page-weights.txt", "a") as out:
        out.write(f"{name}: {total} bytes\n")
    assert hosts == {urlparse(page.url).netloc}, hosts
    assert 0 < total < limit, f"{name} transfers {total} bytes on first load (limit {limit})"
    return total
