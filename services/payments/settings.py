"""Settings of the payments service (environment prefix `PAYMENTS_`, e.g. `PAYMENTS_DATABASE_URL`)."""

from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PAYMENTS_", extra="ignore", populate_by_name=True)

    service_name: str = "payments"
