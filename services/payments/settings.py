"""Settings of the payments service (environment prefix `PAYMENTS_`, e.g. `PAYMENTS_DATABASE_URL`)."""

from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings

DEVELOPMENT_WEBHOOK_SECRET = "development-webhook-secret"


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PAYMENTS_", extra="ignore", populate_by_name=True)

    service_name: str = "payments"
    # Shared secret that signs the payment provider's webhook calls (PAYMENTS_WEBHOOK_SECRET).
    webhook_secret: str = DEVELOPMENT_WEBHOOK_SECRET
    webhook_provider: str = "qr-provider"

    def model_post_init(self, __context) -> None:
        super().model_post_init(__context)
        if self.environment != "development" and self.webhook_secret == DEVELOPMENT_WEBHOOK_SECRET:
            raise ValueError("PAYMENTS_WEBHOOK_SECRET must be set outside development")
