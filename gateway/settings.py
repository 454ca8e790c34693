"""Settings of the gateway (environment prefix `GATEWAY_`, e.g. `GATEWAY_DATABASE_URL`).

Timeouts, rate limits and password-hash cost are here so deployments, tests and benchmarks can set
them without code changes (`GATEWAY_RATE_LIMIT_PER_ADDRESS=100000` for a load test).
"""

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from services.common.paths import var_dir
from services.common.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore", populate_by_name=True)

    service_name: str = "gateway"
    # The gateway emits no events, but it consumes some (notifications): over NATS its consumer runs
    # with the relay (whose outbox stays empty); over HTTP events arrive at its /internal/events.
    relay_enabled: bool = True
    # Private key that signs access tokens (PEM). Generated with the public key on first start in
    # development; production provides both files.
    jwt_private_key_path: str = Field("", validation_alias=AliasChoices(
        "MC_JWT_PRIVATE_KEY_PATH", "mc_jwt_private_key_path", "jwt_private_key_path"))
    access_token_ttl_seconds: int = 15 * 60
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    # a spent refresh token seen again within this time is a second tab, not a thief (see accounts)
    refresh_reuse_grace_seconds: float = 10.0

    # Proxy to the services: one pooled client, explicit timeouts.
    proxy_connect_timeout_seconds: float = 2.0
    proxy_timeout_seconds: float = 10.0
    proxy_max_connections: int = 256
    proxy_max_body_bytes: int = 10 * 1024 * 1024
    health_timeout_seconds: float = 2.0

    # Rate limits: requests per window. Login and registration are stricter (password guessing).
    rate_limit_enabled: bool = True
    rate_limit_window_seconds: int = 60
    rate_limit_per_address: int = 1200
    rate_limit_per_account: int = 600
    rate_limit_auth_per_address: int = 10
    # Failed logins (gateway.login_throttle): per (account, address) and per address, never per
    # account alone; free failures, then a delay that doubles with each failure, up to the maximum.
    login_throttle_enabled: bool = True
    login_free_failures_per_account: int = 5
    login_free_failures_per_address: int = 20
    login_base_delay_seconds: float = 1.0
    login_max_delay_seconds: float = 15 * 60
    login_forget_after_seconds: float = 3600

    # Reverse proxies whose X-Forwarded-For is believed (gateway/forwarded.py): comma-separated
    # addresses or networks, "*" for any; none by default. Read without prefix, like uvicorn does.
    forwarded_allow_ips: str = Field("", validation_alias=AliasChoices(
        "FORWARDED_ALLOW_IPS", "forwarded_allow_ips"))

    # A bearer token that may read /metrics (for Prometheus); admins' access tokens may too.
    metrics_token: str = Field("", validation_alias=AliasChoices(
        "GATEWAY_METRICS_TOKEN", "MC_METRICS_TOKEN", "metrics_token"))

    # Notifications (docs/notifications.md): one Apprise URL per channel, the recipient as a
    # placeholder ({phone}, {phone_digits}, {email}); empty = that channel is off (inbox only).
    notify_whatsapp_url: str = ""
    notify_sms_url: str = ""
    notify_email_url: str = ""
    notify_send_every_seconds: float = 2.0
    notify_batch_size: int = 50
    notify_max_attempts: int = 6
    notify_backoff_seconds: float = 60.0
    notify_backoff_max_seconds: float = 3600.0
    notify_daily_cap: int = 6  # WhatsApp + SMS messages per account and Bolivian day (0: no cap)
    notify_lease_seconds: float = 300.0  # a send still unrecorded after this is taken as interrupted
    notify_stale_after_hours: float = 48.0  # older events (a replay) reach the inbox only
    # fair-price alerts (gateway.fair_prices): how often today's offers are checked against the bands
    fair_price_check_every_seconds: float = 900.0

    # Argon2id cost (RFC 9106 second recommended profile by default).
    password_time_cost: int = 3
    password_memory_kib: int = 64 * 1024
    password_parallelism: int = 4
    # at most this many hashes at once per process (each holds password_memory_kib)
    password_hash_concurrency: int = 4

    def model_post_init(self, __context) -> None:
        super().model_post_init(__context)
        if not self.jwt_private_key_path:
            self.jwt_private_key_path = str(var_dir() / "keys" / "jwt_private.pem")
