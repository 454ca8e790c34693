"""Assembles the delivery service: `uvicorn --factory services.delivery.app:create_app`."""

import logging

from fastapi import FastAPI

from services.common.app import Periodic, ServiceSpec, create_service_app
from services.common.tables import utcnow
from services.delivery import audit
from services.delivery.models import kernel
from services.delivery.pickup import mark_no_shows
from services.delivery.routes import internal, operations, points, staff
from services.delivery.settings import Settings
from services.delivery.subscriptions import EVENT_HANDLERS

log = logging.getLogger("mercado.delivery")


async def _mark_no_shows(app: FastAPI) -> None:
    """Orders past their pickup window become no-shows."""
    async with app.state.db.session() as session:
        marked = await mark_no_shows(session=session, kernel=kernel, now=utcnow())
    if marked:
        log.info("orders marked as no-shows", extra={"count": len(marked)})


SPEC = ServiceSpec(
    name="delivery",
    title="Mercado Corto — delivery",
    description="Delivery points, schedules and per-cycle capacity, nearest-point search, route planning, receiving and pickup.",
    kernel=kernel,
    routers=[points.router, internal.router, operations.router, audit.router, staff.router],
    event_handlers=EVENT_HANDLERS,
    periodic=[Periodic("no-show-check", _mark_no_shows, lambda settings: settings.no_show_check_seconds)],
)


def create_app(settings: Settings | None = None, **overrides):
    return create_service_app(SPEC, settings or Settings(), **overrides)
