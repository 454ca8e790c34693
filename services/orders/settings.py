"""Settings of the orders service (environment prefix `ORDERS_`, e.g. `ORDERS_DATABASE_URL`)."""

from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ORDERS_", extra="ignore", populate_by_name=True)

    service_name: str = "orders"
