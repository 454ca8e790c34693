"""Assembles the catalog service: `uvicorn --factory services.catalog.app:create_app`."""

from services.catalog.models import kernel
from services.catalog.routes import internal
from services.catalog.settings import Settings
from services.common.app import ServiceSpec, create_service_app

SPEC = ServiceSpec(
    name="catalog",
    title="Mercado Corto — catalog",
    description="Municipalities, organizations, producers, certifications, products in Bolivian units, prices, stock reservation and search.",
    kernel=kernel,
    routers=[internal.router],
)


def create_app(settings: Settings | None = None, **overrides):
    return create_service_app(SPEC, settings or Settings(), **overrides)
