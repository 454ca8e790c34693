"""The coordinator's pages: her cycles, closing one, and its printable consolidation lists."""

from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from gateway.web import views
from gateway.web.csrf import refuse_cross_site_posts
from gateway.web.session import UpstreamError, Web, optional
from gateway.web.shop import redirect
from gateway.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(refuse_cross_site_posts)])

@router.get("/coordinacion")
async def coordinator_home(request: Request, web: Web):
    web.require("coordinator")
    cycles = views.items_of(await web.call("GET", "/api/orders/cycles", params={"limit": 30}))
    return render(request, web, "coordinator.html", title="Ciclos de pedido", cycles=cycles)


@router.post("/coordinacion/ciclos/{cycle_id}/cerrar")
async def coordinator_close(web: Web, cycle_id: int):
    web.require("coordinator")
    try:
        result = await web.call("POST", f"/api/orders/cycles/{cycle_id}/close")
    except UpstreamError as exc:
        return redirect("/coordinacion?error=" + quote(exc.message), web)
    message = "Ciclo cerrado y consolidado."
    if result.get("consolidation_error"):
        message = "Ciclo cerrado; la consolidación se reintentará: " + result["consolidation_error"]["message"]
    return redirect(f"/coordinacion/ciclos/{cycle_id}/listas?aviso=" + quote(message), web)


@router.get("/coordinacion/ciclos/{cycle_id}/listas")
async def coordinator_lists(request: Request, web: Web, cycle_id: int):
    web.require("coordinator")
    doc = await web.call("GET", f"/api/orders/cycles/{cycle_id}/consolidation")
    points = {p["id"]: p["name"] for p in views.items_of(
        await optional(web, "GET", "/api/delivery/points", [], "Puntos", params={"limit": 100}))}
    return render(request, web, "cycle_lists.html", title=f"Listas del ciclo {cycle_id}", doc=doc,
                  cycle_id=cycle_id, points=points)


@router.get("/coordinacion/ciclos/{cycle_id}/listas.{fmt}")
async def coordinator_lists_file(web: Web, cycle_id: int, fmt: str):
    web.require("coordinator")
    if fmt not in ("csv", "pdf"):
        raise UpstreamError("Formato desconocido: use csv o pdf.", status=404)
    response = await web.call("GET", f"/api/orders/cycles/{cycle_id}/consolidation", params={"format": fmt},
                              raw=True)
    if response.status_code != 200:
        raise UpstreamError("No se pudo preparar el archivo.", status=response.status_code)
    return Response(response.content, media_type=response.headers.get("content-type"),
                    headers={"Content-Disposition": response.headers.get("content-disposition", "attachment")})
