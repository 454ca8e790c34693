"""Municipal monitoring (`/api/monitoring/...`): the gateway composes the services' aggregates.

`install(app)` adds the routes to the gateway app and closes the monitoring clients at shutdown.
"""

from contextlib import asynccontextmanager

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    from gateway.monitoring.api import router
    from gateway.monitoring.sources import close_clients

    app.include_router(router)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a):
        async with inner(a) as state:
            yield state
        await close_clients(a)

    app.router.lifespan_context = lifespan
