"""Assembles the orders service: `uvicorn --factory services.orders.app:create_app`."""

from services.common.app import Periodic, ServiceSpec, create_service_app
from services.orders import audit, stats
from services.orders.background import run_duties
from services.orders.models import kernel
from services.orders.routes import cycles as cycle_routes
from services.orders.routes import internal, orders
from services.orders.settings import Settings
from services.orders.subscriptions import EVENT_HANDLERS

SPEC = ServiceSpec(
    name="orders",
    title="Mercado Corto — orders",
    description="Order cycles, orders and lines, the stock reservation saga, consolidation into pick and packing lists, exports.",
    kernel=kernel,
    routers=[cycle_routes.router, orders.router, internal.router, stats.router, audit.router],
    event_handlers=EVENT_HANDLERS,
    periodic=[Periodic("orders-duties", run_duties, lambda settings: settings.duties_interval_seconds)],
    own_idempotency=frozenset({("POST", "/orders")}),  # the order row keeps its key (placement.py)
)


def create_app(settings: Settings | None = None, **overrides):
    return create_service_app(SPEC, settings or Settings(), **overrides)
