"""`/docs` (Swagger UI) and `/redoc`, with their scripts and styles served by us, never a CDN.

FastAPI's own pages load Swagger UI and ReDoc from a CDN (and ReDoc its fonts from Google): that
leaks every visit of the documentation to third parties and breaks on an offline installation.
The files come from the `fastapi-offline` package (MIT), which ships exactly the built Swagger UI
and ReDoc bundles, and are mounted under `/docs-assets`.
"""

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/docs-assets"
ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"


def install_docs(app: FastAPI) -> None:
    app.mount(ASSETS_URL, StaticFiles(directory=str(ASSETS_DIR)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request):
        return get_swagger_ui_html(openapi_url=request.app.openapi_url, title=f"{request.app.title} — API",
                                   swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
                                   swagger_favicon_url=f"{ASSETS_URL}/favicon.png")

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request):
        return get_redoc_html(openapi_url=request.app.openapi_url, title=f"{request.app.title} — ReDoc",
                              redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
                              redoc_favicon_url=f"{ASSETS_URL}/favicon.png", with_google_fonts=False)
