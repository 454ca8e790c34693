"""Settings of the delivery service (environment prefix `DELIVERY_`, e.g. `DELIVERY_DATABASE_URL`)."""

from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DELIVERY_", extra="ignore", populate_by_name=True)

    service_name: str = "delivery"
