"""Assembles the payments service: `uvicorn --factory services.payments.app:create_app`."""

from services.common.app import ServiceSpec, create_service_app
from services.payments.models import kernel
from services.payments.settings import Settings

SPEC = ServiceSpec(
    name="payments",
    title="Mercado Corto — payments",
    description="Double-entry ledger, consumer payments, producer settlement and pronto-pago advances.",
    kernel=kernel,
    routers=[],
)


def create_app(settings: Settings | None = None, **overrides):
    return create_service_app(SPEC, settings or Settings(), **overrides)
