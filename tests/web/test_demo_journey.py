"""The README's demo journey, in Chromium, against the demo world itself, on every weekday.

A newcomer runs `make run`, logs in as the demo consumer, adds three products, opens the cart, sees
the delivery points and the fees, confirms and gets a pickup code. Whatever the day: the platform
is started with `MC_TODAY` set to each day of this week in turn, on SQLite and on PostgreSQL, each
time on fresh databases (copied from ones migrated once per backend) loaded by `infra.demo`.
"""

import asyncio
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import pytest

from infra import demo
from services.common import clock
from services.common.migrations import ALL
from services.common.schedules import WEEKDAYS
from tests.conftest import PG_ADMIN_URL, RUN_ID, _pg_execute, _with_database, require_postgres
from tests.web.platform import START_ORDER, migrate, sqlite_urls, start, stop
from tests.web.test_browser import fits_the_phone, log_in

DEMO_CONSUMER = "consumidor1"  # the README's demo account
MONDAY = clock.today() - timedelta(days=clock.today().weekday())
DAYS = [MONDAY + timedelta(days=n) for n in range(7)]


def _pg_urls(tag: str) -> dict[str, str]:
    return {name: _with_database(PG_ADMIN_URL, f"mc_web_{RUN_ID}_{tag}_{name}").replace(
        "postgresql://", "postgresql+asyncpg://") for name in START_ORDER}


def _pg_name(url: str) -> str:
    return url.rsplit("/", 1)[1]


def _in_thread(coroutine) -> None:
    """Run a coroutine to its end outside this thread, whose event loop Playwright holds."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, coroutine).result()


def _pg(sql: str) -> None:
    _in_thread(_pg_execute(PG_ADMIN_URL, sql))


class Databases:
    """Migrated once per backend; every day gets its own fresh copy."""

    def __init__(self, folder):
        self.folder = folder
        self.templates: dict[str, dict[str, str]] = {}
        self.made: list[str] = []

    def fresh(self, backend: str, tag: str) -> dict[str, str]:
        if backend == "sqlite":
            template = self.folder / "sqlite-template"
            if backend not in self.templates:
                migrate(template)
                self.templates[backend] = sqlite_urls(template)
            day = self.folder / tag
            day.mkdir()
            for name in START_ORDER:
                shutil.copy(template / f"{name}.db", day / f"{name}.db")
            return sqlite_urls(day)
        require_postgres()
        if backend not in self.templates:
            urls = _pg_urls("template")
            for url in urls.values():
                _pg(f'DROP DATABASE IF EXISTS "{_pg_name(url)}"')
                _pg(f'CREATE DATABASE "{_pg_name(url)}"')
                self.made.append(_pg_name(url))
            migrate(self.folder / "pg-template", urls)
            self.templates[backend] = urls
        urls = _pg_urls(tag)
        for name, url in urls.items():
            _pg(f'DROP DATABASE IF EXISTS "{_pg_name(url)}"')
            _pg(f'CREATE DATABASE "{_pg_name(url)}" TEMPLATE "{_pg_name(self.templates[backend][name])}"')
            self.made.append(_pg_name(url))
        return urls

    def drop(self, names: list[str]) -> None:
        for name in names:
            _pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def databases(tmp_path_factory):
    dbs = Databases(tmp_path_factory.mktemp("demo-journey"))
    yield dbs
    dbs.drop(dbs.made)


def load_demo_world(urls: dict[str, str], monkeypatch, today: date) -> None:
    """`infra.demo` as `make demo` runs it, as on `today`, here in the test process (no interpreter
    to start); in a thread, since Playwright keeps an event loop running in this one."""
    with monkeypatch.context() as patch:
        patch.setenv("MC_TODAY", today.isoformat())
        _in_thread(demo.load(list(ALL), scale=False, seed=7, urls=urls))


@pytest.fixture
def demo_platform(request, databases, monkeypatch):
    """The whole platform on the demo world, as on the day given by the test's parameters."""
    backend, today = request.param
    tag = f"{backend}_{today:%a}".lower()
    urls = databases.fresh(backend, tag)
    load_demo_world(urls, monkeypatch, today)
    folder = databases.folder / f"run-{tag}"
    env = {"MC_TODAY": today.isoformat()}
    try:
        platform = start(folder, urls=urls, extra_env=env, migrated=True, demo=False)
    except RuntimeError:  # a free port taken meanwhile by another process: one more try on new ports
        platform = start(folder, urls=urls, extra_env=env, migrated=True, demo=False)
    try:
        yield platform, today
    finally:
        stop(platform)
        if backend == "postgres":
            databases.drop([_pg_name(u) for u in urls.values()])


CASES = [pytest.param((backend, day), id=f"{backend}-{WEEKDAYS[day.weekday()]}")
         for backend in ("sqlite", "postgres") for day in DAYS]


@pytest.mark.slow
@pytest.mark.parametrize("demo_platform", CASES, indirect=True)
def test_the_demo_consumer_orders_and_gets_her_pickup_code_on_any_day(demo_platform, phone):
    platform, today = demo_platform
    base = platform.url
    log_in(phone, base, DEMO_CONSUMER)
    assert phone.url.rstrip("/") == base  # consumers land on the catalogue
    for n in range(3):
        phone.locator("li.product").nth(n).locator("button").click()
        phone.wait_for_load_state()
        assert "Carrito actualizado" in phone.inner_text("main")

    phone.click("a[href='/carrito']")
    phone.wait_for_load_state()
    assert phone.locator("ul.lines li").count() == 3
    where = phone.inner_text("section.card")
    delivery = re.search(r"entrega el (\w+) (\d\d)/(\d\d)/(\d{4})", where)
    assert delivery, where
    weekday, day, month, year = delivery.groups()
    delivery_date = date(int(year), int(month), int(day))
    assert timedelta(days=2) <= delivery_date - today <= timedelta(days=8)
    assert weekday == WEEKDAYS[delivery_date.weekday()]
    radios = phone.locator("input[name=delivery_point_id]")
    assert radios.count() >= 2 and radios.nth(0).is_checked()
    fees = phone.inner_text("table.sums")
    assert "Embalaje" in fees and "Transporte" in fees and "Total a pagar" in fees
    total = phone.inner_text("#total")
    assert re.fullmatch(r"Bs \d{1,3}(\.\d{3})*,\d{2}", total), total
    fits_the_phone(phone)

    phone.click("#confirm-button")
    phone.wait_for_url(re.compile(r"/pedidos/\d+$"))
    code = phone.inner_text("#pickup-code").strip()
    assert re.fullmatch(r"[A-Z0-9]{6,12}", code), code
    assert total in phone.inner_text("table.sums")  # the order costs what the cart said
    assert phone.locator("svg.qr path").count() == 1
