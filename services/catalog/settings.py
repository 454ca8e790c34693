"""Settings of the catalog service (environment prefix `CATALOG_`, e.g. `CATALOG_DATABASE_URL`)."""

from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CATALOG_", extra="ignore", populate_by_name=True)

    service_name: str = "catalog"
    # Product photos: largest upload accepted, and the long side of the phone thumbnail.
    photo_max_bytes: int = 5 * 1024 * 1024
    photo_max_side: int = 1600
    thumbnail_side: int = 320
    # S3-compatible photo store; when the bucket is empty, photos live under var/photos.
    photo_s3_bucket: str = ""
    photo_s3_endpoint_url: str = ""
    photo_s3_public_url: str = ""
