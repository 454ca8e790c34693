"""The financier's pages: portfolio with what is due and overdue, approvals, repayments received
(/financiador); advance policies with their versions (/financiador/politicas); funds, the settlor's
money and the fund's report (/financiador/fondos). Every call carries the financier's own token, so
payments answers only with her funds, policies and advances."""

import asyncio
import uuid
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request

from gateway.web.csrf import refuse_cross_site_posts
from gateway.web.session import UpstreamError, Web, WebSession, optional
from gateway.web.shop import redirect
from gateway.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(refuse_cross_site_posts)])

PAY = "/api/payments"
FEE_KINDS = {"percent": "% del adelanto", "flat": "Bs por adelanto", "daily": "% del adelanto por día"}
Amount = Annotated[str, Form(max_length=20)]
Optional = Annotated[str, Form(max_length=20)]


class BadForm(ValueError):
    """A form field the financier must correct; its message says which and how."""


def amount(value: str, what: str, *, required: bool = True) -> str | None:
    """An amount as typed in Bolivia ("1.500,50" or "1500.50") as the API's "1500.50"."""
    text = (value or "").strip().replace(" ", "")
    if not text:
        if required:
            raise BadForm(f"Escriba {what}.")
        return None
    if "," in text:
        text = text.replace(".", "").replace(",", ".")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise BadForm(f"Escriba {what} con números, p. ej. 1.500,00.") from None
    if not number.is_finite() or number <= 0:
        raise BadForm(f"{what[0].upper()}{what[1:]} debe ser mayor que cero.")
    return f"{number:.2f}"


def percent(value: str, what: str, example: str = "80") -> Decimal:
    try:
        number = Decimal((value or "").strip().replace(",", "."))
    except InvalidOperation:
        raise BadForm(f"Escriba {what} con números, p. ej. {example}.") from None
    if not number.is_finite() or number < 0:
        raise BadForm(f"{what[0].upper()}{what[1:]} no puede ser negativo.")
    return number


def decimal_text(value: Decimal) -> str:
    """80.0000 as "80", 2.5000 as "2,5": how a number is typed back into a form."""
    return f"{value.normalize():f}".replace(".", ",")


def _back(url: str, web: WebSession, *, error: str = "", notice: str = ""):
    return redirect(url + ("?error=" + quote(error) if error else "?aviso=" + quote(notice)), web)


def _financier_id(web: WebSession) -> int | None:
    principal = web.require("financier")
    return int(principal.financier_id) if principal.financier_id else None


def due_and_overdue(advances: list[dict], today: date) -> tuple[list[dict], list[dict]]:
    """Advances paid out and not yet repaid, split by their expected collection date."""
    open_ = [a for a in advances if a.get("status") in ("disbursed", "producer_debt")]
    overdue = [a for a in open_ if a["status"] == "producer_debt" or str(a["expected_collection_on"]) < today.isoformat()]
    due = [a for a in open_ if a not in overdue]
    return sorted(due, key=lambda a: a["expected_collection_on"]), overdue


# ---------------------------------------------------------------- portfolio and approvals
@router.get("/financiador")
async def financier_home(request: Request, web: Web):
    financier_id = _financier_id(web)
    notes: list[str] = []
    portfolio, funds = None, []
    if financier_id:
        portfolio, funds = await asyncio.gather(
            optional(web, "GET", f"{PAY}/financiers/{financier_id}/portfolio", notes, "Cartera"),
            optional(web, "GET", f"{PAY}/financiers/{financier_id}/funds", notes, "Fondos"))
    advances = await optional(web, "GET", f"{PAY}/advances", notes, "Solicitudes") or []
    pending = [a for a in advances if a.get("status") in ("requested", "approved")]
    due, overdue = due_and_overdue(advances, date.today())
    repayments = []
    for fund in funds or []:
        if fund.get("account_id"):
            page = await optional(web, "GET", f"{PAY}/accounts/{fund['account_id']}/entries", notes, "Reembolsos",
                                  params={"limit": 50})
            repayments += [dict(e, fund=fund["name"]) for e in (page or {}).get("items", [])
                           if e.get("kind") == "advance_repayment"]
    repayments.sort(key=lambda e: str(e["created_at"]), reverse=True)
    return render(request, web, "financier.html", title="Cartera de pronto pago", portfolio=portfolio,
                  pending=pending, due=due, overdue=overdue, repayments=repayments[:30],
                  recent=[a for a in advances if a not in pending][:20], notes=notes, tab="cartera")


@router.post("/financiador/adelantos/{advance_id}/{action}")
async def financier_decide(web: Web, advance_id: int, action: str):
    web.require("financier")
    if action not in ("approve", "reject", "disburse"):
        raise UpstreamError("Acción desconocida.", status=404)
    try:
        await web.call("POST", f"{PAY}/advances/{advance_id}/{action}", json={},
                       idempotency_key=f"web-{action}-{advance_id}")
    except UpstreamError as exc:
        return _back("/financiador", web, error=exc.message)
    done = {"approve": "aprobado", "reject": "rechazado", "disburse": "desembolsado"}[action]
    return _back("/financiador", web, notice=f"Adelanto {advance_id} {done}.")


# ---------------------------------------------------------------- policies and their versions
@router.get("/financiador/politicas")
async def policies_page(request: Request, web: Web):
    financier_id = _financier_id(web)
    notes: list[str] = []
    policies = await optional(web, "GET", f"{PAY}/advance-policies", notes, "Políticas") or []
    funds = (await optional(web, "GET", f"{PAY}/financiers/{financier_id}/funds", notes, "Fondos") or []) \
        if financier_id else []
    series: dict[int, list[dict]] = {}
    for p in policies:
        p["rate_pct"] = decimal_text(Decimal(str(p["advance_rate"])) * 100)
        p["fee_input"] = decimal_text(Decimal(str(p["fee_value"])))
    for p in sorted(policies, key=lambda p: (p.get("series_id") or p["id"], p.get("version", 1))):
        series.setdefault(p.get("series_id") or p["id"], []).append(p)
    groups = [{"current": versions[-1], "versions": versions} for versions in series.values()]
    groups.sort(key=lambda g: (not g["current"]["active"], g["current"]["name"]))
    return render(request, web, "financier_policies.html", title="Políticas de pronto pago", groups=groups,
                  funds=funds, fee_kinds=FEE_KINDS, notes=notes, idempotency_key=uuid.uuid4().hex, tab="politicas")


def policy_fields(*, rate: str, fee_kind: str, fee_value: str, min_amount: str, max_amount: str,
                  producer_limit: str, auto_approve_up_to: str) -> dict:
    if fee_kind not in FEE_KINDS:
        raise BadForm("Elija cómo se cobra el costo administrativo.")
    share = percent(rate, "el porcentaje que se adelanta")
    if not Decimal(0) < share <= Decimal(100):
        raise BadForm("El porcentaje que se adelanta va de 1 a 100.")
    fee = percent(fee_value, "el costo administrativo", "1,5")
    if fee_kind == "flat":
        fee = Decimal(amount(fee_value, "el costo administrativo"))
    return {"advance_rate": str((share / 100).quantize(Decimal("0.0001"))), "fee_kind": fee_kind,
            "fee_value": str(fee), "min_amount": amount(min_amount, "el monto mínimo"),
            "max_amount": amount(max_amount, "el monto máximo"),
            "producer_limit": amount(producer_limit, "el límite por productora"),
            "auto_approve_up_to": amount(auto_approve_up_to, "el monto de aprobación automática", required=False)}


@router.post("/financiador/politicas")
async def create_policy(web: Web, fund_id: Annotated[int, Form(ge=1)], name: Annotated[str, Form(max_length=200)],
                        rate: Optional, fee_kind: Annotated[str, Form(max_length=10)], fee_value: Optional,
                        min_amount: Amount, max_amount: Amount, producer_limit: Amount,
                        idempotency_key: Annotated[str, Form(max_length=64)], auto_approve_up_to: Optional = ""):
    web.require("financier")
    try:
        body = {"fund_id": fund_id, "name": name.strip(), **policy_fields(
            rate=rate, fee_kind=fee_kind, fee_value=fee_value, min_amount=min_amount, max_amount=max_amount,
            producer_limit=producer_limit, auto_approve_up_to=auto_approve_up_to)}
        if not body["name"]:
            raise BadForm("Dé un nombre a la política.")
        made = await web.call("POST", f"{PAY}/advance-policies", json=body, idempotency_key=idempotency_key)
    except (BadForm, UpstreamError) as exc:
        return _back("/financiador/politicas", web, error=str(getattr(exc, "message", exc)))
    return _back("/financiador/politicas", web, notice=f"Política «{made['name']}» creada (versión 1).")


@router.post("/financiador/politicas/{policy_id}/cambiar")
async def change_policy(web: Web, policy_id: int, rate: Optional, fee_kind: Annotated[str, Form(max_length=10)],
                        fee_value: Optional, min_amount: Amount, max_amount: Amount, producer_limit: Amount,
                        idempotency_key: Annotated[str, Form(max_length=64)], auto_approve_up_to: Optional = ""):
    web.require("financier")
    try:
        body = policy_fields(rate=rate, fee_kind=fee_kind, fee_value=fee_value, min_amount=min_amount,
                             max_amount=max_amount, producer_limit=producer_limit,
                             auto_approve_up_to=auto_approve_up_to)
        made = await web.call("POST", f"{PAY}/advance-policies/{policy_id}/versions", json=body,
                              idempotency_key=idempotency_key)
    except (BadForm, UpstreamError) as exc:
        return _back("/financiador/politicas", web, error=str(getattr(exc, "message", exc)))
    return _back("/financiador/politicas", web,
                 notice=f"«{made['name']}» pasa a la versión {made['version']}: cada productora acepta las nuevas "
                        "condiciones antes de su próximo adelanto.")


@router.post("/financiador/politicas/{policy_id}/retirar")
async def retire_policy(web: Web, policy_id: int):
    web.require("financier")
    try:
        ended = await web.call("DELETE", f"{PAY}/advance-policies/{policy_id}")
    except UpstreamError as exc:
        return _back("/financiador/politicas", web, error=exc.message)
    return _back("/financiador/politicas", web, notice=f"Política «{ended['name']}» retirada; su historial se conserva.")


# ---------------------------------------------------------------- funds and the settlor's money
@router.get("/financiador/fondos")
async def funds_page(request: Request, web: Web):
    financier_id = _financier_id(web)
    notes: list[str] = []
    funds = (await optional(web, "GET", f"{PAY}/financiers/{financier_id}/funds", notes, "Fondos") or []) \
        if financier_id else []
    reports = await asyncio.gather(*[optional(web, "GET", f"{PAY}/funds/{f['id']}/report", notes, f["name"])
                                     for f in funds])
    return render(request, web, "financier_funds.html", title="Fondos de pronto pago",
                  reports=[r for r in reports if r], notes=notes, idempotency_key=uuid.uuid4().hex, tab="fondos")


@router.post("/financiador/fondos/{fund_id}/aportes")
async def add_money(web: Web, fund_id: int, value: Amount, idempotency_key: Annotated[str, Form(max_length=64)],
                    note: Annotated[str, Form(max_length=300)] = ""):
    web.require("financier")
    try:
        money = amount(value, "el monto del aporte")
        await web.call("POST", f"{PAY}/funds/{fund_id}/contributions",
                       json={"amount": money, "client_id": f"web-{idempotency_key}", "note": note.strip() or None})
    except (BadForm, UpstreamError) as exc:
        return _back("/financiador/fondos", web, error=str(getattr(exc, "message", exc)))
    return _back("/financiador/fondos", web, notice="Aporte registrado en el fondo.")
