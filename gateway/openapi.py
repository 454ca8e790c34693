"""The merged OpenAPI document behind `/docs`: the gateway's own routes plus every service's.

Each service's `/openapi.json` is fetched (in parallel, with the health timeout), its paths are put
under `/api/<service>`, its component names get a `<service>.` prefix (two services may both have
a `Product`), its operation ids and tags are prefixed too. Internal and metrics paths are left out,
as the proxy never forwards them. A service that does not answer is listed under
`x-unavailable-services` and the rest of the document is still served.
"""

import asyncio
import copy
from typing import Any

import aiohttp

from gateway.proxy import is_private

REF_PREFIX = "#/components/"


def _rename_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value in renames:
                out[key] = renames[value]
            else:
                out[key] = _rename_refs(value, renames)
        return out
    if isinstance(node, list):
        return [_rename_refs(item, renames) for item in node]
    return node


def prefix_service_spec(name: str, spec: dict[str, Any]) -> tuple[dict, dict, list[dict]]:
    """(paths, components, tags) of one service, as seen through the gateway."""
    renames: dict[str, str] = {}
    components: dict[str, dict] = {}
    for kind, entries in (spec.get("components") or {}).items():
        if kind == "securitySchemes":
            continue  # the gateway declares the one bearer scheme
        for key in entries:
            renames[f"{REF_PREFIX}{kind}/{key}"] = f"{REF_PREFIX}{kind}/{name}.{key}"
    for kind, entries in (spec.get("components") or {}).items():
        if kind == "securitySchemes":
            continue
        components[kind] = {f"{name}.{key}": _rename_refs(value, renames) for key, value in entries.items()}
    paths = {}
    for path, item in (spec.get("paths") or {}).items():
        if is_private(path):
            continue
        item = _rename_refs(copy.deepcopy(item), renames)
        for operation in item.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            if "operationId" in operation:
                operation["operationId"] = f"{name}_{operation['operationId']}"
            operation["tags"] = [f"{name}: {tag}" for tag in operation.get("tags", [])] or [name]
        paths[f"/api/{name}{path}"] = item
    tags = [{**tag, "name": f"{name}: {tag['name']}"} for tag in spec.get("tags", []) if "name" in tag]
    return paths, components, tags


def merge_specs(gateway_spec: dict[str, Any], services: dict[str, dict[str, Any] | None]) -> dict[str, Any]:
    merged = copy.deepcopy(gateway_spec)
    merged.setdefault("paths", {})
    components = merged.setdefault("components", {})
    tags = merged.setdefault("tags", [])
    unavailable = []
    for name, spec in services.items():
        if spec is None:
            unavailable.append(name)
            continue
        paths, comps, service_tags = prefix_service_spec(name, spec)
        merged["paths"].update(paths)
        for kind, entries in comps.items():
            components.setdefault(kind, {}).update(entries)
        tags.extend(service_tags)
    components.setdefault("securitySchemes", {})["bearer"] = {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": "access_token from POST /api/auth/login"}
    merged["security"] = [{"bearer": []}, {}]
    if unavailable:
        merged["x-unavailable-services"] = unavailable
        note = f"\n\nNot shown right now (service not answering): {', '.join(unavailable)}."
        merged.setdefault("info", {})["description"] = merged.get("info", {}).get("description", "") + note
    return merged


async def fetch_service_specs(session: aiohttp.ClientSession, targets: dict[str, str],
                              seconds: float) -> dict[str, dict | None]:
    async def one(url: str) -> dict | None:
        try:
            async with session.get(f"{url}/openapi.json",
                                   timeout=aiohttp.ClientTimeout(total=seconds)) as response:
                if response.status != 200:
                    return None
                return await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None

    names = list(targets)
    specs = await asyncio.gather(*(one(targets[n]) for n in names))
    return dict(zip(names, specs, strict=True))
