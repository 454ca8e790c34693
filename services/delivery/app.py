"""Assembles the delivery service: `uvicorn --factory services.delivery.app:create_app`."""

import asyncio
import contextlib
import logging

from fastapi import FastAPI

from services.common.app import ServiceSpec, create_service_app
from services.common.tables import utcnow
from services.delivery.models import kernel
from services.delivery.pickup import mark_no_shows
from services.delivery.routes import internal, operations, points
from services.delivery.settings import Settings
from services.delivery.subscriptions import EVENT_HANDLERS

log = logging.getLogger("mercado.delivery")


async def _no_show_loop(app: FastAPI, every: float) -> None:
    """The periodic no-show check: every `every` seconds, orders past their window become no-shows."""
    while True:
        await asyncio.sleep(every)
        try:
            async with app.state.db.session() as session:
                marked = await mark_no_shows(session=session, kernel=kernel, now=utcnow())
            if marked:
                log.info("orders marked as no-shows", extra={"count": len(marked)})
        except Exception:  # a failed round is retried next round; the loop must survive it
            log.exception("no-show check failed")


async def _start_no_show_check(app: FastAPI) -> None:
    every = app.state.settings.no_show_check_seconds
    app.state.no_show_task = asyncio.create_task(_no_show_loop(app, every)) if every > 0 else None


async def _stop_no_show_check(app: FastAPI) -> None:
    task = getattr(app.state, "no_show_task", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


SPEC = ServiceSpec(
    name="delivery",
    title="Mercado Corto — delivery",
    description="Delivery points, schedules and per-cycle capacity, nearest-point search, route planning, receiving and pickup.",
    kernel=kernel,
    routers=[points.router, internal.router, operations.router],
    event_handlers=EVENT_HANDLERS,
    on_startup=[_start_no_show_check],
    on_shutdown=[_stop_no_show_check],
)


def create_app(settings: Settings | None = None, **overrides):
    return create_service_app(SPEC, settings or Settings(), **overrides)
