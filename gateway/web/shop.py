"""Consumer pages: catalogue by category and municipality, cart with fees before confirming, the
delivery point chosen from a list sorted by distance (with a map), and the confirmation with the
pickup code, its QR and a WhatsApp share link. Also login and logout, for every role.
"""

import uuid
from decimal import Decimal, InvalidOperation
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from gateway.monitoring.figures import CATEGORY_LABELS
from gateway.web import views
from gateway.web.csrf import CrossSitePost, keep_token, refuse_cross_site_posts
from gateway.web.session import LoginRequired, UpstreamError, WebSession, every_page, web_session
from gateway.web.svg import MapPoint, points_map, qr_svg
from gateway.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(refuse_cross_site_posts)])
Web = Annotated[WebSession, Depends(web_session)]
PAGE_SIZE = 24
NEAR_KM, FAR_KM = 30, 1000  # delivery points offered around the consumer: her city, else anywhere


def redirect(url: str, session: WebSession | None = None) -> Response:
    response = RedirectResponse(url, status_code=303)
    return session.apply(response) if session else response


def safe_next(value: str | None) -> str:
    """Only paths on this site (never `//other.host` or a full URL)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return ""


@router.get("/ingresar")
async def login_form(request: Request, web: Web, next: str = ""):
    return render(request, web, "login.html", title="Ingresar", next=safe_next(next))


@router.post("/ingresar")
async def login(request: Request, web: Web, login: Annotated[str, Form(max_length=254)],
                password: Annotated[str, Form(max_length=128)], next: Annotated[str, Form()] = ""):
    response = await web.call("POST", "/api/auth/login", json={"login": login.strip(), "password": password},
                              raw=True)
    if response.status_code != 200:
        message = "Teléfono, correo o contraseña incorrectos."
        if response.status_code == 429:
            message = "Demasiados intentos; espere un minuto e intente de nuevo."
        elif response.status_code >= 500:
            message = "El servicio no responde en este momento; intente de nuevo en un rato."
        elif response.status_code == 422:
            message = "Escriba su teléfono o correo y su contraseña."
        status = response.status_code if response.status_code in (429, 503) else 400
        return render(request, web, "login.html", status_code=status,
                      title="Ingresar", next=safe_next(next), error=message, login=login)
    web.adopt(response.json())
    await web.note_point_duty()
    target = safe_next(next) or views.ROLE_HOME.get(web.principal.role.value, "/")
    answer = redirect(target, web)
    keep_token(request, answer, renew=True)  # a token planted before login is useless after it
    return answer


@router.post("/salir")
async def logout(request: Request, web: Web):
    if web.refresh:  # end the session for good, not only in this browser
        await web.call("POST", "/api/auth/logout", json={"refresh_token": web.refresh}, raw=True)
    web.clear = True
    web.set_cookies.clear()
    answer = redirect("/?aviso=" + quote("Sesión cerrada."), web)
    keep_token(request, answer, renew=True)
    return answer


async def municipalities_of(web: WebSession) -> list[dict]:
    """Every municipality the catalog knows (for the selects), page by page; none if it is down."""
    try:  # Bolivia has 340 municipalities: at most a few pages
        return await every_page(web, "/api/catalog/municipalities")
    except UpstreamError:
        return []


@router.get("/")
async def catalogue(request: Request, web: Web, categoria: str = "", municipio: str = "", q: str = "",
                    cursor: str = ""):
    params = {"category": categoria or None, "municipality": municipio or None, "q": q[:100] or None,
              "limit": PAGE_SIZE, "cursor": cursor or None}
    page = await web.call("GET", "/api/catalog/products", params=params)
    products = [views.product_view(p) for p in views.items_of(page)]
    municipalities = await municipalities_of(web)
    names = {m["code"]: m["name"] for m in municipalities if "code" in m}
    for p in products:
        p["municipality"] = names.get(p["municipality"], p["municipality"])
    cart = views.read_cart(request.cookies.get(views.CART_COOKIE))
    next_cursor = page.get("next_cursor") if isinstance(page, dict) else None
    more = None
    if next_cursor:
        more = "/?" + urlencode({k: v for k, v in {"categoria": categoria, "municipio": municipio, "q": q,
                                                   "cursor": next_cursor}.items() if v})
    kept = {k: v for k, v in request.query_params.items() if k not in ("aviso", "error")}
    here = "/" + ("?" + urlencode(kept) if kept else "")
    return render(request, web, "catalogue.html", title="Productos de nuestras comunidades", products=products,
                  categories=CATEGORY_LABELS, category=categoria, municipalities=municipalities,
                  municipality=municipio, q=q, cart_count=len(cart), more=more, here=here)


@router.post("/carrito")
async def add_to_cart(request: Request, web: Web, product_id: Annotated[int, Form(ge=1)],
                      quantity: Annotated[str, Form(max_length=12)] = "1", back: Annotated[str, Form()] = "/"):
    cart = views.read_cart(request.cookies.get(views.CART_COOKIE))
    target = safe_next(back) or "/"
    sep = "&" if "?" in target else "?"
    try:
        q = Decimal(quantity.strip().replace(",", "."))
    except InvalidOperation:
        q = Decimal(-1)
    if not q.is_finite() or q < 0 or q > 100000:
        return redirect(target + sep + "error=" + quote("Escriba la cantidad con números, por ejemplo 2 o 1,5."))
    if q == 0:
        cart.pop(product_id, None)
    else:
        cart[product_id] = q if back == "/carrito" else cart.get(product_id, Decimal(0)) + q
    response = redirect(target + sep + "aviso=" + quote("Carrito actualizado."), web)
    response.set_cookie(views.CART_COOKIE, views.write_cart(cart), max_age=7 * 24 * 3600, path="/",
                        httponly=True, samesite="lax")
    return response


def _float(value: str) -> float | None:
    try:
        f = float(value)
    except ValueError:
        return None
    return f if -180 <= f <= 180 else None


async def points_open_for(web: WebSession, cycle: dict, here: tuple[float, float] | None) -> list[dict]:
    """The cycle's points open on its delivery day: nearby first (a city); if none of them is that
    close, the nearest anywhere; without a location, in id order."""
    allowed = set(cycle.get("delivery_point_ids") or [])
    params: dict = {"limit": 50, "open_on": cycle.get("delivery_date")}
    points: list[dict] = []
    for radius in ((NEAR_KM, FAR_KM) if here else (None,)):
        if here:
            params.update(near=f"{here[0]},{here[1]}", radius_km=radius)
        found = views.items_of(await web.call("GET", "/api/delivery/points", params=params))
        points = [p for p in found if not allowed or p["id"] in allowed]
        if points:
            break
    return points


@router.get("/carrito")
async def cart_page(request: Request, web: Web, lat: str = "", lon: str = "", municipio: str = "",
                    punto: int = 0):
    cart = views.read_cart(request.cookies.get(views.CART_COOKIE))
    lines = []
    for product_id, quantity in cart.items():
        try:
            p = views.product_view(await web.call("GET", f"/api/catalog/products/{product_id}"))
        except UpstreamError:
            continue
        p["quantity"] = views.qty(quantity)
        p["quantity_raw"] = f"{quantity.normalize():f}"
        lines.append(p)
    # where the consumer is: the browser's location, else the chosen municipality's centre
    municipalities = await municipalities_of(web)
    here = None
    la, lo = _float(lat), _float(lon)
    if la is not None and lo is not None:
        here = (la, lo)
    elif municipio:
        m = next((m for m in municipalities if m.get("code") == municipio), None)
        if m and m.get("lat") is not None:
            here = (float(m["lat"]), float(m["lon"]))
    # the newest open cycle that has a point open on its delivery day; if none has, the newest one,
    # shown with what to do instead of an empty list of points
    cycles = views.items_of(await web.call("GET", "/api/orders/cycles", params={"status": "open", "limit": 5}))
    cycle, points = (cycles[0] if cycles else None), []
    for candidate in cycles:
        points = await points_open_for(web, candidate, here)
        if points:
            cycle = candidate
            break
    chosen = punto if any(p["id"] == punto for p in points) else (points[0]["id"] if points else 0)

    quote_data, quote_error = None, ""
    if cycle and lines and chosen:
        if web.principal is None:
            quote_error = "Ingrese con su cuenta para ver las tarifas y confirmar."
        elif web.principal.role.value != "consumer":
            quote_error = "Solo una cuenta de consumidor puede hacer pedidos."
        else:
            body = {"cycle_id": cycle["id"], "delivery_point_id": chosen,
                    "lines": [{"product_id": p["id"], "quantity": p["quantity_raw"]} for p in lines]}
            try:
                quote_data = await web.call("POST", "/api/orders/orders/quote", json=body)
            except UpstreamError as exc:
                quote_error = exc.message
    figure = points_map([MapPoint(p["name"], p["lat"], p["lon"], number=i + 1, highlight=p["id"] == chosen)
                         for i, p in enumerate(points[:12])], here=here, title="Puntos de entrega") if points else ""
    return render(request, web, "cart.html", title="Mi carrito", lines=lines, cycle=cycle, points=points,
                  chosen=chosen, quote=quote_data, quote_error=quote_error, map=figure, lat=lat, lon=lon,
                  municipio=municipio, municipalities=municipalities, idempotency_key=uuid.uuid4().hex)


@router.post("/carrito/confirmar")
async def confirm(request: Request, web: Web, cycle_id: Annotated[int, Form(ge=1)],
                  delivery_point_id: Annotated[int, Form(ge=1)],
                  idempotency_key: Annotated[str, Form(max_length=64)],
                  wait_if_full: Annotated[bool, Form()] = False):
    web.require("consumer")
    cart = views.read_cart(request.cookies.get(views.CART_COOKIE))
    if not cart:
        return redirect("/carrito?error=" + quote("Su carrito está vacío."), web)
    body = {"cycle_id": cycle_id, "delivery_point_id": delivery_point_id,
            "lines": [{"product_id": pid, "quantity": f"{q.normalize():f}"} for pid, q in cart.items()],
            "wait_if_full": wait_if_full}
    try:
        order = await web.call("POST", "/api/orders/orders", json=body, idempotency_key=idempotency_key)
    except UpstreamError as exc:
        return redirect(f"/carrito?punto={delivery_point_id}&error=" + quote(exc.message), web)
    response = redirect(f"/pedidos/{order['id']}", web)
    response.delete_cookie(views.CART_COOKIE, path="/")
    return response


async def credit_of(web: WebSession) -> dict | None:
    """Her saldo a favor (payments): `{balance: Decimal, refund_request}`, or None when she is not a
    consumer or payments does not answer."""
    principal = web.principal
    if principal is None or principal.role.value != "consumer":
        return None
    try:
        found = await web.call("GET", f"/api/payments/credit/{principal.account_id}")
    except UpstreamError:
        return None
    return {"balance": Decimal(str(found.get("balance") or 0)), "refund_request": found.get("refund_request")}


@router.post("/pedidos/saldo/devolucion")
async def ask_credit_back(request: Request, web: Web, method: Annotated[str, Form(pattern="^(cash|qr|transfer)$")]):
    """She asks for all her saldo a favor back, the way she chose; an administrator pays it."""
    principal = web.require("consumer")
    try:
        await web.call("POST", f"/api/payments/credit/{principal.account_id}/refund-requests",
                       json={"method": method})
    except UpstreamError as exc:
        return redirect("/pedidos?error=" + quote(exc.message), web)
    return redirect("/pedidos", web)


@router.get("/pedidos")
async def my_orders(request: Request, web: Web, error: str = ""):
    web.require()
    orders = views.items_of(await web.call("GET", "/api/orders/orders", params={"limit": 20}))
    return render(request, web, "orders.html", title="Mis pedidos", orders=orders, credit=await credit_of(web),
                  error=error[:300])


@router.post("/pedidos/{order_id}/saldo")
async def pay_with_credit(request: Request, web: Web, order_id: int,
                          idempotency_key: Annotated[str, Form(max_length=64)]):
    """Her saldo a favor pays as much of the order as it can (payment method credito)."""
    principal = web.require("consumer")
    try:
        await web.call("POST", f"/api/payments/credit/{principal.account_id}/spend",
                       json={"order_id": order_id, "client_id": f"web-{idempotency_key}"[:120]})
    except UpstreamError as exc:
        return redirect(f"/pedidos/{order_id}?error=" + quote(exc.message), web)
    return redirect(f"/pedidos/{order_id}", web)


@router.get("/pedidos/{order_id}")
async def order_page(request: Request, web: Web, order_id: int, error: str = ""):
    web.require()
    order = await web.call("GET", f"/api/orders/orders/{order_id}")
    credit, due = await credit_of(web), None
    credit = credit["balance"] if credit else None
    if credit:
        try:
            due = Decimal(str((await web.call("GET", f"/api/payments/orders/{order_id}/balance"))["due"]))
        except (UpstreamError, KeyError, InvalidOperation):
            due = None
    point = None
    try:
        point = await web.call("GET", f"/api/delivery/points/{order['delivery_point_id']}")
    except UpstreamError:
        pass
    cycle = None
    try:
        cycle = await web.call("GET", f"/api/orders/cycles/{order['cycle_id']}")
    except UpstreamError:
        pass
    code = order.get("pickup_code")
    share = ""
    if code:
        where = point["name"] if point else "el punto de entrega"
        when = f" el {views.day(cycle['delivery_date'])}" if cycle else ""
        text = (f"Mi pedido #{order['id']} de Mercado Corto: recojo en {where}{when}. "
                f"Código de recojo: {code}. Total {views.bs(order.get('total'))}.")
        share = "https://wa.me/?text=" + quote(text)
    return render(request, web, "order.html", title=f"Pedido #{order_id}", order=order, point=point, cycle=cycle,
                  qr=qr_svg(code) if code else "", share=share, credit=credit, due=due, error=error[:300],
                  idempotency_key=uuid.uuid4().hex)


def install_handlers(app) -> None:
    """Pages answer a missing login with the login form, and a refused call with a readable page."""

    @app.exception_handler(LoginRequired)
    async def _login_required(request: Request, exc: LoginRequired):
        params = {"next": exc.next_url}
        if exc.message:
            params["error"] = exc.message
        response = RedirectResponse("/ingresar?" + urlencode(params), status_code=303)
        return response

    @app.exception_handler(CrossSitePost)
    @app.exception_handler(UpstreamError)
    async def _upstream(request: Request, exc: UpstreamError | CrossSitePost):
        session = WebSession(request)
        return render(request, session, "error.html", status_code=exc.status, title="No se pudo mostrar",
                      message=exc.message)
