"""The web pages the gateway serves: server-rendered Spanish pages for consumers, producers,
coordinators, delivery point staff, municipalities, financiers and admins, with one small local script and no external assets.

`install(app)` adds the page routes, the static files under `/static` and the handlers that turn a
missing login into the login form.
"""

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles


def install(app: FastAPI) -> None:
    from gateway.web import (
        admin,
        advance_terms,
        consumer,
        coordinator,
        financier,
        municipality,
        notices,
        offline,
        organization,
        payouts,
        point,
        producer,
        shop,
        training,
    )
    from gateway.web.templating import HERE

    app.include_router(shop.router)
    app.include_router(consumer.router)
    for pages in (producer, organization, coordinator, payouts, municipality, financier, admin):
        app.include_router(pages.router)
    app.include_router(advance_terms.router)
    app.include_router(point.router)
    app.include_router(training.router)
    app.include_router(offline.router)
    app.include_router(notices.router)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    shop.install_handlers(app)
