"""Municipal monitoring (`/api/monitoring/...`): the gateway composes the services' aggregates.

`install(app)` adds the routes to the gateway app and closes the monitoring clients at shutdown.
"""

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    from gateway.monitoring.api import router

    app.include_router(router)
