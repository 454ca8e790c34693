"""The coordinator's payout page for a cycle: make its settlement final, make a payout batch (one
line per producer, or per organization that collects for its members), download the bank's CSV,
and mark each payout paid (with the provider's reference, or who received the cash) or failed.

Every rule (who may pay, how much is left, the 409 for a payout above what is payable) stays in the
payments service: the page reads and posts through the gateway's own API as the logged-in user and
shows the service's refusal as it is.
"""

import uuid
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from gateway.web.csrf import refuse_cross_site_posts
from gateway.web.session import UpstreamError, Web, optional
from gateway.web.shop import redirect
from gateway.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(refuse_cross_site_posts)])

METHODS = {"bank_transfer": "Transferencia bancaria", "mobile_wallet": "Billetera móvil", "cash": "Efectivo en el punto"}
STATUSES = {"pending": "enviado, por confirmar", "paid": "pagado", "failed": "fallido"}
API = "/api/payments"


def _page(cycle_id: int) -> str:
    return f"/coordinacion/ciclos/{cycle_id}/pagos-productoras"


def payees(settlement: dict | None) -> list[dict]:
    """Who the batch form offers: each producer paid directly, and each organization collecting for
    its members once (its members' amounts added), with what is left to pay."""
    rows: dict[str, dict] = {}
    for p in (settlement or {}).get("payables", []):
        left = _cents(p["amount"]) - _cents(p["committed"])
        if p["collected_by_organization"]:
            key = f"organization:{p['organization_id']}"
            row = rows.setdefault(key, {"key": key, "name": f"Organización {p['organization_id']} (cobra por sus "
                                                            "miembros)", "left": 0, "members": []})
            row["members"].append(p["producer_id"])
        else:
            key = f"producer:{p['producer_id']}"
            row = rows.setdefault(key, {"key": key, "name": f"Productora {p['producer_id']}", "left": 0,
                                        "members": []})
        row["left"] += left
    return [dict(r, left=f"{r['left'] / 100:.2f}") for r in rows.values() if r["left"] > 0]


def _cents(value: str) -> int:
    whole, _, cents = str(value).partition(".")
    sign = -1 if whole.startswith("-") else 1
    return sign * (abs(int(whole or 0)) * 100 + int((cents + "00")[:2]))


@router.get("/coordinacion/ciclos/{cycle_id}/pagos-productoras")
async def payouts_page(request: Request, web: Web, cycle_id: int):
    web.require("coordinator")
    notes: list[str] = []
    settlement = None
    try:
        settlement = await web.call("GET", f"{API}/cycles/{cycle_id}/settlement")
    except UpstreamError as exc:
        if exc.code != "settlement_not_final":
            notes.append(f"Liquidación: {exc.message}")
    lines = await optional(web, "GET", f"{API}/cycles/{cycle_id}/payouts", notes, "Pagos") if settlement else []
    return render(request, web, "payouts.html", title=f"Pagos del ciclo {cycle_id}", cycle_id=cycle_id,
                  settlement=settlement, payees=payees(settlement), lines=lines or [], methods=METHODS, statuses=STATUSES,
                  notes=notes, idempotency_key=uuid.uuid4().hex)


@router.post("/coordinacion/ciclos/{cycle_id}/liquidar")
async def settle(web: Web, cycle_id: int):
    web.require("coordinator")
    try:
        await web.call("POST", f"{API}/cycles/{cycle_id}/settlement/final")
    except UpstreamError as exc:
        return redirect(_page(cycle_id) + "?error=" + quote(exc.message), web)
    return redirect(_page(cycle_id) + "?aviso=" + quote("Liquidación final hecha: ya puede pagar."), web)


@router.post("/coordinacion/ciclos/{cycle_id}/lotes")
async def make_batch(request: Request, web: Web, cycle_id: int):
    web.require("coordinator")
    form = await request.form()
    lines = []
    for key in form.getlist("pagar")[:500]:
        kind, _, payee = str(key).partition(":")
        if kind not in ("producer", "organization") or not payee.isdigit():
            continue
        method = str(form.get(f"metodo_{key}", ""))
        line = {f"{kind}_id": int(payee), "method": method}
        amount = str(form.get(f"monto_{key}", "")).strip().replace(",", ".")
        if amount:
            line["amount"] = amount
        for field, name in (("bank", "banco"), ("account_number", "cuenta"), ("wallet_number", "billetera")):
            value = str(form.get(f"{name}_{key}", "")).strip()
            if value:
                line[field] = value[:80]
        lines.append(line)
    if not lines:
        return redirect(_page(cycle_id) + "?error=" + quote("Marque al menos a quién pagar."), web)
    try:
        # a second click on the same form answers the first batch instead of making another
        key = str(form.get("idempotency_key", ""))[:64] or None
        batch = await web.call("POST", f"{API}/payout-batches", json={"cycle_id": cycle_id, "lines": lines},
                               idempotency_key=key)
    except UpstreamError as exc:
        return redirect(_page(cycle_id) + "?error=" + quote(exc.message), web)
    return redirect(_page(cycle_id) + "?aviso=" + quote(f"Lote {batch['id']} listo: descargue el archivo para el "
                                                        "banco y marque cada pago cuando se confirme."), web)


@router.post("/coordinacion/ciclos/{cycle_id}/pagos-productoras/{payout_id}")
async def settle_payout(request: Request, web: Web, cycle_id: int, payout_id: int):
    web.require("coordinator")
    form = await request.form()
    outcome = str(form.get("resultado", ""))
    try:
        if outcome == "pagado":
            await web.call("POST", f"{API}/payouts/{payout_id}/paid", json={
                "reference": str(form.get("referencia", "")).strip()[:120] or None,
                "received_by": str(form.get("recibido_por", "")).strip()[:120] or None})
            message = f"Pago {payout_id} marcado como pagado."
        elif outcome == "fallido":
            await web.call("POST", f"{API}/payouts/{payout_id}/failed",
                           json={"reason": str(form.get("motivo", "")).strip()[:300] or "rechazado"})
            message = f"Pago {payout_id} marcado como fallido: su monto vuelve a estar por pagar."
        elif outcome == "reintentar":
            await web.call("POST", f"{API}/payouts/{payout_id}/retry", json={})
            message = f"Pago {payout_id} reintentado como un pago nuevo."
        else:
            return redirect(_page(cycle_id) + "?error=" + quote("Elija pagado, fallido o reintentar."), web)
    except UpstreamError as exc:
        return redirect(_page(cycle_id) + "?error=" + quote(exc.message), web)
    return redirect(_page(cycle_id) + "?aviso=" + quote(message), web)


@router.get("/coordinacion/lotes/{batch_id}.csv")
async def batch_file(web: Web, batch_id: int):
    web.require("coordinator")
    response = await web.call("GET", f"{API}/payout-batches/{batch_id}/export", raw=True)
    if response.status_code != 200:
        raise UpstreamError("No se pudo preparar el archivo del lote.", status=response.status_code)
    return Response(response.content, media_type="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="pagos-lote-{batch_id}.csv"'})
