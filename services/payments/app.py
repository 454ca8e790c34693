"""Assembles the payments service: `uvicorn --factory services.payments.app:create_app`."""

from services.common.app import ServiceSpec, create_service_app
from services.payments import audit
from services.payments.models import kernel
from services.payments.routes import (
    advances,
    credit,
    funding,
    internal,
    ledger,
    monitoring,
    payments,
    payouts,
    settlement,
    trust,
)
from services.payments.settings import Settings
from services.payments.subscriptions import EVENT_HANDLERS

SPEC = ServiceSpec(
    name="payments",
    title="Mercado Corto — payments",
    description="Double-entry ledger, consumer payments, producer settlement and pronto-pago advances.",
    kernel=kernel,
    routers=[ledger.router, payments.router, credit.router, settlement.router, funding.router, trust.router,
             advances.router, monitoring.router, internal.router, audit.router, payouts.router],
    event_handlers=EVENT_HANDLERS,
)


def create_app(settings: Settings | None = None, **overrides):
    return create_service_app(SPEC, settings or Settings(), **overrides)
