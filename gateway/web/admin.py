"""The administrator's pages: accounts (search, verify a self-registered organization and link it to
the registry, link producer, organization, municipality or financier accounts, change the role,
deactivate), the registry (organizations with legal form and maturity, producers) and municipalities.

Every page is for admins only; each action is one call to the gateway's account API or the catalog,
which apply their own rules (an admin-only route, links only to what the registry has)."""

import asyncio
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Request

from gateway.monitoring.figures import LEGAL_FORM_LABELS, MATURITY_LABELS
from gateway.web.csrf import refuse_cross_site_posts
from gateway.web.session import UpstreamError, Web, WebSession, every_page, optional
from gateway.web.shop import municipalities_of, redirect
from gateway.web.templating import render
from services.common.auth import Role

router = APIRouter(include_in_schema=False, dependencies=[Depends(refuse_cross_site_posts)])

ROLE_LABELS = {"consumer": "Consumidor", "producer": "Productor", "organization": "Organización",
               "coordinator": "Coordinación", "municipality": "Municipio", "financier": "Financiador",
               "admin": "Administración"}
LINKS = {"producer_id": "Productor", "organization_id": "Organización", "municipality_code": "Municipio",
         "financier_id": "Financiador"}


def _admin(web: WebSession) -> None:
    web.require("admin")  # any other role is sent to the login form with "Esta página es para otro tipo de cuenta."


def link_changes(form: dict[str, str]) -> dict:
    """The account API's links from the page's form: an empty field removes the link; ValueError says
    what is wrong."""
    changes: dict = {}
    for field, label in LINKS.items():
        value = form.get(field, "").strip()
        if field == "municipality_code":
            if value and not (value.isdigit() and len(value) == 6):
                raise ValueError("El municipio es un código INE de 6 cifras, p. ej. 020101.")
            changes[field] = value or None
            continue
        if value and not (value.isdigit() and 0 < int(value) < 2**53):
            raise ValueError(f"{label}: escriba el número de registro.")
        changes[field] = int(value) if value else None
    return changes


@router.get("/admin")
async def admin_accounts(request: Request, web: Web, q: str = "", rol: str = "", por_verificar: str = ""):
    _admin(web)
    role = rol if rol in ROLE_LABELS else ""
    accounts = await web.call("GET", "/api/auth/accounts", params={
        "q": q[:100], "role": role or None, "unverified": "true" if por_verificar else None, "limit": 100})
    return render(request, web, "admin/accounts.html", title="Administración: cuentas", accounts=accounts,
                  q=q[:100], rol=role, por_verificar=bool(por_verificar), roles=ROLE_LABELS)


@router.get("/admin/cuentas/{account_id}")
async def admin_account(request: Request, web: Web, account_id: int):
    _admin(web)
    if not 0 < account_id < 2**53:
        raise UpstreamError("Esa cuenta no existe.", status=404)
    notes: list[str] = []
    account, organizations, municipalities = await asyncio.gather(
        web.call("GET", f"/api/auth/accounts/{account_id}"),
        optional(web, "GET", "/api/catalog/organizations", notes, "Registro de organizaciones", params={"limit": 100}),
        municipalities_of(web))
    organizations = (organizations or {}).get("items") or []
    return render(request, web, "admin/account.html", title=f"Cuenta {account['name']}", account=account,
                  organizations=organizations, municipalities=municipalities, roles=ROLE_LABELS, links=LINKS,
                  names={"organization_id": {o["id"]: o["name"] for o in organizations},
                         "municipality_code": {m["code"]: m["name"] for m in municipalities}},
                  notes=notes)


@router.post("/admin/cuentas/{account_id}/{action}")
async def admin_account_action(request: Request, web: Web, account_id: int, action: str):
    _admin(web)
    back = f"/admin/cuentas/{account_id}"
    form = {k: str(v)[:200] for k, v in (await request.form()).items()}
    try:
        if action == "verificar":
            organization = form.get("organization_id", "")
            if not organization.isdigit():
                raise ValueError("Elija la organización del registro.")
            await web.call("POST", f"/api/auth/accounts/{account_id}/verify",
                           json={"organization_id": int(organization)})
            done = "Organización verificada: la cuenta ya actúa por ella y sus socios."
        elif action == "vinculos":
            await web.call("PATCH", f"/api/auth/accounts/{account_id}", json=link_changes(form))
            done = "Vínculos guardados."
        elif action == "rol":
            if form.get("role") not in ROLE_LABELS:
                raise ValueError("Elija un rol.")
            await web.call("PATCH", f"/api/auth/accounts/{account_id}", json={"role": form["role"]})
            done = f"Rol cambiado a {ROLE_LABELS[form['role']]}."
        elif action in ("desactivar", "activar"):
            if action == "desactivar" and account_id == web.principal.account_id:
                raise ValueError("No puede desactivar su propia cuenta.")
            await web.call("PATCH", f"/api/auth/accounts/{account_id}", json={"is_active": action == "activar"})
            done = "Cuenta desactivada: sus sesiones se cerraron." if action == "desactivar" else "Cuenta activada."
        else:
            raise UpstreamError("Acción desconocida.", status=404)
    except ValueError as exc:
        return redirect(back + "?error=" + quote(str(exc)), web)
    except UpstreamError as exc:
        if exc.status == 404 and exc.code == "upstream_error":
            raise
        return redirect(back + "?error=" + quote(exc.message), web)
    return redirect(back + "?aviso=" + quote(done), web)


@router.get("/admin/registro")
async def admin_registry(request: Request, web: Web, municipio: str = "", cursor: str = ""):
    """Every organization of the territory; its producers a page of 100 at a time."""
    _admin(web)
    code = municipio if municipio.isdigit() and len(municipio) == 6 else None
    organizations, page, municipalities = await asyncio.gather(
        every_page(web, "/api/catalog/organizations", {"municipality": code}, pages=5),
        web.call("GET", "/api/catalog/producers", params={"municipality": code, "limit": 100,
                                                           "cursor": cursor[:200] or None}),
        municipalities_of(web))
    producers = page.get("items") or []
    names = {m["code"]: m["name"] for m in municipalities}
    org_names = {o["id"]: o["name"] for o in organizations}
    return render(request, web, "admin/registry.html", title="Administración: registro",
                  organizations=organizations, producers=producers, names=names, org_names=org_names,
                  municipalities=municipalities, code=code or "", legal_forms=LEGAL_FORM_LABELS,
                  next_url="/admin/registro?" + urlencode({k: v for k, v in (("municipio", code),
                                                                             ("cursor", page.get("next_cursor"))) if v})
                  if page.get("next_cursor") else "",
                  maturities=MATURITY_LABELS)


@router.get("/admin/municipios")
async def admin_municipalities(request: Request, web: Web):
    _admin(web)
    municipalities, accounts = await asyncio.gather(
        municipalities_of(web), web.call("GET", "/api/auth/accounts", params={"role": Role.municipality.value,
                                                                             "limit": 200}))
    linked: dict[str, list] = {}
    for a in accounts:
        linked.setdefault(a.get("municipality_code"), []).append(a)
    return render(request, web, "admin/municipalities.html", title="Administración: municipios",
                  municipalities=municipalities, linked=linked)


@router.post("/admin/municipios")
async def admin_add_municipality(web: Web, code: Annotated[str, Form(max_length=10)] = "",
                                 name: Annotated[str, Form(max_length=200)] = "",
                                 province: Annotated[str, Form(max_length=200)] = "",
                                 department: Annotated[str, Form(max_length=200)] = ""):
    _admin(web)
    if not (code.isdigit() and len(code) == 6) or not name.strip() or not province.strip() or not department.strip():
        return redirect("/admin/municipios?error=" + quote("Escriba el código INE de 6 cifras, el nombre, la "
                                                           "provincia y el departamento."), web)
    try:
        await web.call("POST", "/api/catalog/municipalities", json={
            "code": code, "name": name.strip(), "province": province.strip(), "department": department.strip()})
    except UpstreamError as exc:
        return redirect("/admin/municipios?error=" + quote(exc.message), web)
    return redirect("/admin/municipios?aviso=" + quote(f"Municipio {name.strip()} registrado."), web)
