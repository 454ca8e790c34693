"""With several uvicorn workers per service (`<SERVICE>_WORKERS=2`), a periodic duty (closing due
cycles, marking no-shows, sending notifications) never runs in two workers at once: a worker that
finds another one running it skips its round."""

import asyncio

from services.catalog.models import kernel as catalog_kernel
from services.common.app import Periodic, ServiceSpec, create_service_app
from tests.conftest import app_client, require_postgres, service_settings, transactional_database


async def test_two_workers_never_run_the_same_duty_at_once(migrated, keys):
    require_postgres()
    running, most, rounds = 0, 0, []

    async def duty(app):
        nonlocal running, most
        running += 1
        try:
            most = max(most, running)
            rounds.append(app.state.worker)
            await asyncio.sleep(0.15)  # long beside the interval: two loops would overlap without the lock
        finally:  # a round cut short by its worker's shutdown has stopped running too
            running -= 1

    spec = ServiceSpec(name="catalog", title="probe", description="probe", kernel=catalog_kernel, routers=[],
                       periodic=[Periodic("probe duty", duty, lambda settings: 0.02)])
    url = migrated.url("catalog", "postgres")
    async with transactional_database(url) as first, transactional_database(url) as second:
        apps = [create_service_app(spec, service_settings("catalog", url, background_enabled=True), database=db,
                                   verifier=keys.verifier, check_migrations=False) for db in (first, second)]
        for worker, app in enumerate(apps):
            app.state.worker = worker
        async with app_client(apps[0]), app_client(apps[1]):
            await asyncio.sleep(1.5)
    assert len(rounds) >= 4, rounds
    assert most == 1, "two workers ran the duty at the same time"
