"""Settings of the delivery service (environment prefix `DELIVERY_`, e.g. `DELIVERY_DATABASE_URL`)."""

from decimal import Decimal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.common.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DELIVERY_", extra="ignore", populate_by_name=True)

    service_name: str = "delivery"
    # Route planning: the default hub (depot) where consolidated loads leave from, in El Alto.
    depot_lat: float = -16.5047
    depot_lon: float = -68.1633
    # Road distance is about this many times the straight (haversine) distance in the Andean cities.
    road_factor: float = 1.35
    average_speed_kmh: float = 25.0
    # Minutes a vehicle spends unloading at each delivery point.
    service_minutes: int = 10
    # When vehicles may leave the hub on the delivery day (local time, HH:MM).
    day_start: str = "05:00"
    solver_seconds: float = 2.0
    # A routing engine's table service (OSRM) replaces haversine × road factor when set.
    osrm_url: str = ""
    # Wrong pickup codes per order before a lock, and how long the lock lasts.
    pickup_max_failures: int = 5
    pickup_lock_minutes: int = 15
    # Receiving may exceed the ordered quantity by this percentage (variable-weight goods), no more.
    receive_margin_percent: Decimal = Field(default=Decimal("5"), ge=0, le=50)
    # How often the no-show check runs in the background (0 turns it off).
    no_show_check_seconds: float = 300.0
