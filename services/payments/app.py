"""Assembles the payments service: `uvicorn --factory services.payments.app:create_app`."""

from services.common.app import ServiceSpec, create_service_app
from services.payments import audit
from services.payments.credit import on_consignment_corrected, on_consignment_delivered, on_order_cancelled
from services.payments.models import kernel
from services.payments.order_book import on_cycle_closed, on_order_placed
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

SPEC = ServiceSpec(
    name="payments",
    title="Mercado Corto — payments",
    description="Double-entry ledger, consumer payments, producer settlement and pronto-pago advances.",
    kernel=kernel,
    routers=[ledger.router, payments.router, credit.router, settlement.router, funding.router, trust.router,
             advances.router, monitoring.router, internal.router, audit.router, payouts.router],
    event_handlers={
        "order.placed": on_order_placed,
        "order.cancelled": on_order_cancelled,
        "cycle.closed": on_cycle_closed,
        "consignment.delivered": on_consignment_delivered,
        "consignment.corrected": on_consignment_corrected,
    },
)


def create_app(settings: Settings | None = None, **overrides):
    return create_service_app(SPEC, settings or Settings(), **overrides)
