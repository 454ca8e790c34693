"""Settings of the orders service (environment prefix `ORDERS_`, e.g. `ORDERS_DATABASE_URL`)."""

from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERS_", extra="ignore", populate_by_name=True)

    service_name: str = "orders"
    # background duties: auto-close due cycles, consolidate, compensate abandoned placements
    duties_interval_seconds: float = 5.0
    # a placement still pending after this long is taken as crashed and compensated
    pending_timeout_seconds: float = 120.0
    # coordinators are told a cycle closes soon this many hours before `closes_at` (cycle.closing_soon)
    closing_soon_hours: float = 6.0
