"""The service worker (`/sw.js`): keeps the training lessons (and the static files they need) on
the phone after the first visit, so a lesson can be read again without connection.

It is served from the site's root so that its scope covers every page; it never caches a POST and
never answers from the cache while the network works (network first, cache as the fallback).
"""

from fastapi import APIRouter
from fastapi.responses import FileResponse

from gateway.web.templating import HERE

router = APIRouter(include_in_schema=False)


@router.get("/sw.js")
async def service_worker():
    return FileResponse(HERE / "static" / "sw.js", media_type="text/javascript",
                        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/"})
