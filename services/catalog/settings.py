"""Settings of the catalog service (environment prefix `CATALOG_`, e.g. `CATALOG_DATABASE_URL`)."""

from pydantic import Field
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
    # Public catalogue reads kept in memory this long (seconds; 0: never); this process's own writes
    # drop them at once, another worker's are seen when the time runs out.
    read_cache_seconds: float = Field(default=2.0, ge=0, le=60)
    read_cache_entries: int = Field(default=512, ge=1, le=100_000)
