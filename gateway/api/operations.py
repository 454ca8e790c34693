"""`/healthz` (gateway and every service with its database), `/metrics` (not public), and
`/api/openapi.json`, the merged document that `/docs` shows."""

import asyncio
import hmac

import aiohttp
from fastapi import APIRouter, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from sqlalchemy import text

from gateway.notifications.sender import backlog as notification_backlog
from gateway.openapi import fetch_service_specs, merge_specs
from gateway.proxy import is_private
from services.common.auth import bearer_token
from services.common.errors import Forbidden, JsonResponse, Unauthorized
from services.common.event_health import consumer_health, refresh_event_gauges

router = APIRouter(tags=["operations"])
MERGED_OPENAPI_URL = "/api/openapi.json"


async def _service_health(session: aiohttp.ClientSession, url: str, seconds: float) -> dict:
    try:
        async with session.get(f"{url}/healthz", timeout=aiohttp.ClientTimeout(total=seconds)) as response:
            body = await response.json(content_type=None)
            if not isinstance(body, dict):
                raise ValueError("not a JSON object")
            body.setdefault("status", "ok" if response.status == 200 else "down")
            if response.status != 200 and body["status"] == "ok":
                body["status"] = "down"
            return body
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        reason = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
        return {"status": "down", "error": reason}


@router.get("/healthz", summary="Gateway, services and their databases", operation_id="gateway_health")
async def healthz(request: Request):
    state = request.app.state
    notifications = {"channels": sorted(state.notification_channels.configured)}
    try:
        async with state.db.session() as session:
            await session.execute(text("SELECT 1"))
        database = "ok"
        notifications.update(await notification_backlog(state.db))
    except Exception as exc:  # a health check reports; it does not raise
        database = f"down ({type(exc).__name__})"
    targets = state.service_targets
    timeout = state.settings.health_timeout_seconds
    results = await asyncio.gather(*(_service_health(state.http, url, timeout) for url in targets.values()))
    services = dict(zip(targets, results, strict=True))
    limits = await state.limiter.counters.health() if state.limiter else {"counters": "off", "status": "ok"}
    try:  # the gateway consumes events too (notifications): its own lag, like every service's
        consumer = await consumer_health(state)
    except Exception as exc:
        consumer = {"status": "degraded", "problems": [f"lag not measured ({type(exc).__name__})"]}
    consumer_ok = consumer is None or consumer["status"] == "ok"
    if database != "ok":
        status, code = "down", 503
    elif all(s.get("status") == "ok" for s in services.values()) and limits["status"] == "ok" and consumer_ok:
        status, code = "ok", 200
    else:
        status, code = "degraded", 200
    answer = {"service": "gateway", "status": status, "database": database,
              "database_backend": "sqlite" if state.db.is_sqlite else "postgresql",
              "rate_limits": limits, "notifications": notifications, "services": services}
    if consumer is not None:
        answer["consumer"] = consumer
    return JsonResponse(answer, status_code=code)


def _check_metrics_reader(request: Request) -> None:
    token = bearer_token(request)
    if token is None:
        raise Unauthorized("metrics need Authorization: Bearer <admin token or the metrics token>",
                           code="not_authenticated", headers={"WWW-Authenticate": "Bearer"})
    expected = request.app.state.settings.metrics_token
    if expected and hmac.compare_digest(token.encode(), expected.encode()):
        return
    if not request.app.state.token_verifier.verify(token).is_admin:
        raise Forbidden("metrics are for administrators", code="role_required")


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request):
    _check_metrics_reader(request)
    await refresh_event_gauges(request.app.state, "gateway")
    body, content_type = request.app.state.metrics.render()
    return Response(body, media_type=content_type)


def gateway_openapi(app) -> dict:
    """The gateway's own part: every route it serves, with its own `/healthz` described rather than
    the kernel's one it stands in front of."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        own = get_openapi(title=app.title, version=app.version, routes=router.routes)
        schema["paths"].update(own["paths"])
        schema["paths"] = {path: item for path, item in schema["paths"].items() if not is_private(path)}
        app.openapi_schema = schema
    return app.openapi_schema


@router.get(MERGED_OPENAPI_URL, include_in_schema=False)
async def merged_openapi(request: Request):
    state = request.app.state
    specs = await fetch_service_specs(state.http, state.service_targets, state.settings.health_timeout_seconds)
    return JsonResponse(merge_specs(request.app.openapi(), specs))
