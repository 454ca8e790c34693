"""The web session: the access and refresh tokens in HttpOnly cookies, and the calls pages make.

Login posts to the gateway's own `/api/auth/login`; the tokens go into cookies the page's script can
never read (HttpOnly, SameSite=Lax, Secure outside development). Each page call to a service goes
through the gateway's own stack (`/api/<service>/...`: rate limits, proxy, request ids) in process,
with the user's token and the browser's address, so a page costs the user exactly what the same
API calls would. An expired access token is renewed once with the refresh token.
"""

from dataclasses import dataclass, field
from typing import Annotated, Any

import httpx
from fastapi import Depends, Request
from fastapi.responses import Response

from services.common.auth import Principal
from services.common.errors import DomainError, Unauthorized

# what people read when a service refuses (the services' own messages are for developers, in English)
MESSAGES = {
    "stock_insufficient": "Ya no hay suficiente de «{product_name}»: quedan {available} {unit}.",
    "below_minimum_order": "Ese producto se vende desde una cantidad mínima; aumente la cantidad.",
    "product_inactive": "Un producto de su carrito ya no está a la venta; quítelo para seguir.",
    "product_not_found": "Un producto de su carrito ya no existe; quítelo para seguir.",
    "product_not_offered": "Un producto de su carrito no se ofrece en este ciclo; quítelo para seguir.",
    "basket_not_found": "Una agrobolsa de su carrito ya no se ofrece en este ciclo; quítela para seguir.",
    "point_full": "Ese punto de entrega ya no tiene cupo en este ciclo; elija otro o marque «esperar en su lista».",
    "point_closed_on_delivery_day": "Ese punto no abre el día de entrega; elija otro.",
    "point_not_in_cycle": "Ese punto no atiende este ciclo; elija otro.",
    "point_inactive": "Ese punto de entrega ya no funciona; elija otro.",
    "cycle_closed": "El ciclo de pedidos ya cerró; espere el próximo.",
    "cycle_not_open": "El ciclo de pedidos no está abierto.",
    "invalid_transition": "Ese paso no es posible en el estado actual.",
    "below_minimum_advance": "El monto pedido es menor que el mínimo del fondo.",
    "above_maximum_advance": "El monto pedido supera lo que puede adelantar ahora.",
    "producer_limit": "Superaría su límite de adelantos pendientes.",
    "over_eligible_value": "Sobre sus entregas aceptadas puede pedir como máximo Bs {max_advance}.",
    "insufficient_balance": "El fondo no tiene saldo suficiente.",
    "rate_limited": "Demasiadas solicitudes; espere un minuto e intente de nuevo.",
    "role_required": "Su cuenta no puede hacer esto.",
    "service_unavailable": "El servicio no responde en este momento; intente de nuevo en un rato.",
    "price_outside_band": "La banda justa debe contener el precio: mínimo ≤ precio de referencia ≤ máximo.",
    "reference_price_before_latest": "Ya hay un precio vigente desde el {latest_valid_from}; el nuevo debe regir "
                                     "desde ese día o después.",
    "not_your_municipality": "Solo puede cambiar los precios de referencia de su municipio.",
    "account_not_found": "Esa cuenta no existe.",
    "organization_not_found": "Esa organización no está en el registro.",
    "producer_not_found": "Ese productor no está en el registro.",
    "not_an_organization_account": "Solo se verifican cuentas de organización.",
    "link_required": "Ese rol necesita su vínculo: guarde antes el municipio o el financiador en «Vínculos».",
    "not_your_cycle": "Este ciclo es de otra coordinación.",
    "not_your_point": "Ese punto lo registró otra coordinación.",
    "nothing_to_plan": "El ciclo no tiene entregas que repartir todavía.",
    "drop_exceeds_vehicle_capacity": "La carga de un punto ({load_kg} kg) no cabe en un vehículo de {capacity_kg} kg; "
                                     "use vehículos más grandes.",
    "fleet_capacity_exceeded": "La carga del ciclo ({total_load_kg} kg) es más de lo que llevan los vehículos "
                               "({fleet_capacity_kg} kg); agregue vehículos o capacidad.",
    "window_unreachable": "Ningún vehículo llega a tiempo a un punto (llegaría a las {earliest_arrival}); "
                          "salga más temprano.",
    "no_feasible_plan": "No hay un plan posible con estos vehículos; agregue vehículos o salga más temprano.",
    "cycle_not_editable": "El ciclo ya no se puede cambiar.",
    "point_not_found": "Uno de los puntos elegidos ya no existe.",
}


def readable(code: str, message: str, details: dict) -> str:
    template = MESSAGES.get(code)
    if template is None:
        return message or "No se pudo completar la operación."
    try:
        return template.format(**details)
    except (KeyError, IndexError, ValueError):
        return "Ya no hay suficiente de un producto de su carrito; baje la cantidad." \
            if code == "stock_insufficient" else message or "No se pudo completar la operación."


ACCESS_COOKIE = "mc_access"
REFRESH_COOKIE = "mc_refresh"
# "this account works at a delivery point": only shows the header's link; the service decides
POINT_COOKIE = "mc_point"


class LoginRequired(Exception):
    """Raised by a page that needs a logged-in user; answered with a redirect to the login form."""

    def __init__(self, next_url: str = "/", message: str = ""):
        super().__init__(message)
        self.next_url = next_url
        self.message = message


class UpstreamError(DomainError):
    """A service refused a page's call; the page shows `message` to the user."""


@dataclass
class WebSession:
    request: Request
    token: str | None = None
    refresh: str | None = None
    principal: Principal | None = None
    set_cookies: dict[str, tuple[str, int]] = field(default_factory=dict)
    clear: bool = False
    unread: int = 0  # the account's unread notifications, for the "Avisos" link in the header

    @property
    def logged_in(self) -> bool:
        return self.principal is not None

    def require(self, *roles: str) -> Principal:
        if self.principal is None:
            raise LoginRequired(self.request.url.path)
        if roles and not self.principal.has_role(*roles):
            raise LoginRequired(self.request.url.path, "Esta página es para otro tipo de cuenta.")
        return self.principal

    async def call(self, method: str, path: str, *, params: dict | None = None, json: Any = None,
                   idempotency_key: str | None = None, raw: bool = False, files: dict | None = None) -> Any:
        """Call `/api/...` through the gateway's own stack as the logged-in user (`files`: a multipart
        upload, `{"file": (name, bytes, content type)}`)."""
        send = dict(params=params, json=json, idempotency_key=idempotency_key, files=files)
        response = await self._send(method, path, **send)
        if response.status_code == 401 and self.refresh and not path.startswith("/api/auth/") \
                and await self._renew():
            response = await self._send(method, path, **send)
        if raw:
            return response
        if response.status_code >= 500:
            raise UpstreamError("El servicio no responde en este momento; intente de nuevo en un rato.",
                                code="service_unavailable", status=503)
        data = response.json() if response.content else {}
        if response.status_code == 401:
            raise LoginRequired(self.request.url.path, "Su sesión terminó; ingrese de nuevo.")
        if response.status_code >= 400:
            err = data.get("error", {}) if isinstance(data, dict) else {}
            code, details = err.get("code", "upstream_error"), err.get("details") or {}
            raise UpstreamError(readable(code, err.get("message", ""), details), code=code,
                                status=response.status_code, details=details)
        return data

    async def _send(self, method: str, path: str, **kw) -> httpx.Response:
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if kw.get("idempotency_key"):
            headers["Idempotency-Key"] = kw["idempotency_key"]
        params = {k: v for k, v in (kw.get("params") or {}).items() if v not in (None, "")}
        async with _client(self.request) as client:
            return await client.request(method, path, params=params, json=kw.get("json"), files=kw.get("files"),
                                        headers=headers)

    async def renew(self) -> bool:
        """New tokens now: after a change to the account's links (its old token does not carry them)."""
        return bool(self.refresh) and await self._renew()

    async def _renew(self) -> bool:
        async with _client(self.request) as client:
            response = await client.post("/api/auth/refresh", json={"refresh_token": self.refresh})
        if response.status_code != 200:
            self.clear = True
            return False
        self.adopt(response.json())
        return True

    def adopt(self, tokens: dict) -> None:
        """Take a fresh token pair (login or refresh) and remember to set the cookies."""
        self.token, self.refresh = tokens["access_token"], tokens["refresh_token"]
        self.principal = _verify(self.request, self.token)
        self.set_cookies[ACCESS_COOKIE] = (self.token, int(tokens.get("expires_in", 900)))
        self.set_cookies[REFRESH_COOKIE] = (self.refresh, 30 * 24 * 3600)

    @property
    def on_point_duty(self) -> bool:
        """Whether to show the point staff's link (set at login or on the point's page)."""
        if POINT_COOKIE in self.set_cookies:
            return bool(self.set_cookies[POINT_COOKIE][0])
        return not self.clear and bool(self.request.cookies.get(POINT_COOKIE))

    async def note_point_duty(self) -> None:
        """At login: remember whether the account was assigned to a delivery point (one call)."""
        response = await self.call("GET", "/api/delivery/staff/me", raw=True)
        on_duty = response.status_code == 200 and bool(response.json())
        self.set_cookies[POINT_COOKIE] = ("1", 30 * 24 * 3600) if on_duty else ("", 0)  # another account's goes

    def apply(self, response: Response) -> Response:
        secure = getattr(self.request.app.state.settings, "environment", "development") != "development"
        if self.clear:
            for name in (ACCESS_COOKIE, REFRESH_COOKIE, POINT_COOKIE):
                response.delete_cookie(name, path="/")
        for name, (value, max_age) in self.set_cookies.items():
            response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="lax",
                                secure=secure)
        return response


def _verify(request: Request, token: str) -> Principal:
    return request.app.state.token_verifier.verify(token)


def _client(request: Request) -> httpx.AsyncClient:
    """An in-process client into this gateway (its whole middleware stack), as the browser's address."""
    client_addr = request.client.host if request.client else "127.0.0.1"
    transport = httpx.ASGITransport(app=request.app, client=(client_addr, 0))
    return httpx.AsyncClient(transport=transport, base_url="http://gateway.local", timeout=30)


async def web_session(request: Request) -> WebSession:
    """Dependency: the visitor's session (logged in or not), renewing an expired access token."""
    session = WebSession(request, token=request.cookies.get(ACCESS_COOKIE),
                         refresh=request.cookies.get(REFRESH_COOKIE))
    if session.token:
        try:
            session.principal = _verify(request, session.token)
        except Unauthorized:
            session.token = None
    if session.principal is None and session.refresh:
        await session._renew()
    if session.principal is not None:
        session.unread = await _unread(request, session.principal.account_id)
    return session


async def _unread(request: Request, account_id: int) -> int:
    """The header's count, read from the gateway's own notifications (no service call per page)."""
    from gateway.notifications.inbox import unread_count

    async with request.app.state.db.session() as session:
        return await unread_count(session=session, account_id=account_id)


Web = Annotated[WebSession, Depends(web_session)]


async def every_page(web: WebSession, path: str, params: dict | None = None, *, pages: int = 10,
                     page_size: int = 100, notes: list[str] | None = None, what: str = "") -> list[dict]:
    """The items of a paged list (`items`, `next_cursor`), up to `pages` pages of `page_size`. With
    `notes`, a refused page ends the list there with a note (see `optional`) instead of raising."""
    found: list[dict] = []
    cursor = None
    for _ in range(pages):
        query = {**(params or {}), "limit": page_size, "cursor": cursor}
        if notes is None:
            page = await web.call("GET", path, params=query)
        elif not (page := await optional(web, "GET", path, notes, what, params=query)):
            break
        if not isinstance(page, dict):
            return found + (page if isinstance(page, list) else [])
        found += page.get("items") or []
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return found


async def optional(web: WebSession, method: str, path: str, notes: list[str], what: str, **kw):
    """A call whose failure leaves one part of the page out (with a note), not the whole page."""
    try:
        return await web.call(method, path, **kw)
    except UpstreamError as exc:
        notes.append(f"{what}: {exc.message}")
        return None
