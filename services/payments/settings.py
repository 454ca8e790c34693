"""Settings of the payments service (environment prefix `PAYMENTS_`, e.g. `PAYMENTS_DATABASE_URL`)."""

from pydantic_settings import SettingsConfigDict

from services.common.keys import development_secret
from services.common.secret_strength import require_strong_secret
from services.common.settings import ServiceSettings


def development_webhook_secret() -> str:
    """The webhook secret of this development installation (made on first use under var/keys/)."""
    return development_secret("webhook_secret")


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PAYMENTS_", extra="ignore", populate_by_name=True)

    service_name: str = "payments"
    # Shared secret that signs the payment provider's webhook calls (PAYMENTS_WEBHOOK_SECRET);
    # generated per installation in development, required (32 random bytes) elsewhere.
    webhook_secret: str = ""
    webhook_provider: str = "qr-provider"

    def model_post_init(self, __context) -> None:
        super().model_post_init(__context)
        if self.environment != "development":
            if not self.webhook_secret:
                raise RuntimeError("PAYMENTS_WEBHOOK_SECRET must be set outside development")
            require_strong_secret(self.webhook_secret, name="PAYMENTS_WEBHOOK_SECRET")
        elif not self.webhook_secret:
            self.webhook_secret = development_webhook_secret()
