"""The financier's pages: portfolio and approvals of early payments (pronto pago)."""

from urllib.parse import quote

from fastapi import APIRouter, Depends, Request

from gateway.web.csrf import refuse_cross_site_posts
from gateway.web.session import UpstreamError, Web, optional
from gateway.web.shop import redirect
from gateway.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(refuse_cross_site_posts)])

@router.get("/financiador")
async def financier_home(request: Request, web: Web):
    principal = web.require("financier")
    notes: list[str] = []
    portfolio = None
    if principal.financier_id:
        portfolio = await optional(web, "GET", f"/api/payments/financiers/{principal.financier_id}/portfolio",
                                   notes, "Cartera")
    advances = await optional(web, "GET", "/api/payments/advances", notes, "Solicitudes") or []
    pending = [a for a in advances if a.get("status") in ("requested", "approved")]
    return render(request, web, "financier.html", title="Cartera de pronto pago", portfolio=portfolio,
                  pending=pending, recent=[a for a in advances if a not in pending][:20], notes=notes)


@router.post("/financiador/adelantos/{advance_id}/{action}")
async def financier_decide(web: Web, advance_id: int, action: str):
    web.require("financier")
    if action not in ("approve", "reject", "disburse"):
        raise UpstreamError("Acción desconocida.", status=404)
    try:
        await web.call("POST", f"/api/payments/advances/{advance_id}/{action}", json={},
                       idempotency_key=f"web-{action}-{advance_id}")
    except UpstreamError as exc:
        return redirect("/financiador?error=" + quote(exc.message), web)
    done = {"approve": "aprobado", "reject": "rechazado", "disburse": "desembolsado"}[action]
    return redirect("/financiador?aviso=" + quote(f"Adelanto {advance_id} {done}."), web)
