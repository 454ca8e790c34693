"""Assembles the orders service: `uvicorn --factory services.orders.app:create_app`."""

from services.common.app import ServiceSpec, create_service_app
from services.orders.models import kernel
from services.orders.settings import Settings

SPEC = ServiceSpec(
    name="orders",
    title="Mercado Corto — orders",
    description="Order cycles, orders and lines, the stock reservation saga, consolidation into pick and packing lists, exports.",
    kernel=kernel,
    routers=[],
)


def create_app(settings: Settings | None = None, **overrides):
    return create_service_app(SPEC, settings or Settings(), **overrides)
