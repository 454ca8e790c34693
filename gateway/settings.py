"""Settings of the gateway (environment prefix `GATEWAY_`, e.g. `GATEWAY_DATABASE_URL`)."""

from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", populate_by_name=True)

    service_name: str = "gateway"
