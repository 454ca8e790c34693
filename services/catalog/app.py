"""Assembles the catalog service: `uvicorn --factory services.catalog.app:create_app`."""

from services.catalog import audit
from services.catalog.models import kernel
from services.catalog.photos import store_from_settings
from services.catalog.routes import internal, places, prices, products
from services.catalog.search import tune_planner
from services.catalog.settings import Settings
from services.common.app import ServiceSpec, create_service_app
from services.common.read_cache import ReadCache


async def _tune_database(app) -> None:
    tune_planner(app.state.db)


async def _watch_writes(app) -> None:
    app.state.read_cache.watch(app.state.db.engine)


async def _unwatch_writes(app) -> None:
    app.state.read_cache.unwatch()


SPEC = ServiceSpec(
    name="catalog",
    title="Mercado Corto — catalog",
    description="Municipalities, organizations, producers, certifications, products in Bolivian units, prices, stock reservation and search.",
    kernel=kernel,
    routers=[places.router, products.router, prices.router, internal.router, internal.enrolment, audit.router],
    on_startup=[_tune_database, _watch_writes],
    on_shutdown=[_unwatch_writes],
)


def create_app(settings: Settings | None = None, *, photo_store=None, **overrides):
    settings = settings or Settings()
    app = create_service_app(SPEC, settings, **overrides)
    app.state.photo_store = photo_store or store_from_settings(settings)
    app.state.read_cache = ReadCache(ttl=settings.read_cache_seconds, max_entries=settings.read_cache_entries)
    return app
