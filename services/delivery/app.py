"""Assembles the delivery service: `uvicorn --factory services.delivery.app:create_app`."""

from services.common.app import ServiceSpec, create_service_app
from services.delivery.models import kernel
from services.delivery.routes import internal, points
from services.delivery.settings import Settings

SPEC = ServiceSpec(
    name="delivery",
    title="Mercado Corto — delivery",
    description="Delivery points, schedules and per-cycle capacity, nearest-point search, route planning, receiving and pickup.",
    kernel=kernel,
    routers=[points.router, internal.router],
)


def create_app(settings: Settings | None = None, **overrides):
    return create_service_app(SPEC, settings or Settings(), **overrides)
