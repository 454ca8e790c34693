"""Settings of the catalog service (environment prefix `CATALOG_`, e.g. `CATALOG_DATABASE_URL`)."""

from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CATALOG_", extra="ignore", populate_by_name=True)

    service_name: str = "catalog"
