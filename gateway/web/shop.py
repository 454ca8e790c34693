"""Consumer pages: catalogue by category and municipality, cart with fees before confirming, the
delivery point chosen from a list sorted by distance (with a map), and the confirmation with the
pickup code, its QR and a WhatsApp share link. Also login and logout, for every role.
"""

import uuid
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from gateway.monitoring.figures import CATEGORY_LABELS
from gateway.web import views
from gateway.web.baskets import baskets_of, open_baskets
from gateway.web.csrf import CrossSitePost, keep_token, refuse_cross_site_posts
from gateway.web.session import LoginRequired, UpstreamError, WebSession, every_page, web_session
from gateway.web.svg import MapPoint, points_map
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
    raw_cart = request.cookies.get(views.CART_COOKIE)
    cart_count = len(views.read_cart(raw_cart)) + len(views.read_baskets(raw_cart))
    baskets = await open_baskets(web) if not cursor else []
    next_cursor = page.get("next_cursor") if isinstance(page, dict) else None
    more = None
    if next_cursor:
        more = "/?" + urlencode({k: v for k, v in {"categoria": categoria, "municipio": municipio, "q": q,
                                                   "cursor": next_cursor}.items() if v})
    kept = {k: v for k, v in request.query_params.items() if k not in ("aviso", "error")}
    here = "/" + ("?" + urlencode(kept) if kept else "")
    return render(request, web, "catalogue.html", title="Productos de nuestras comunidades", products=products,
                  categories=CATEGORY_LABELS, category=categoria, municipalities=municipalities,
                  municipality=municipio, q=q, cart_count=cart_count, more=more, here=here,
                  baskets=baskets, add_key=uuid.uuid4().hex)


@router.post("/carrito")
async def add_to_cart(request: Request, web: Web, product_id: Annotated[int | None, Form(ge=1)] = None,
                      basket_id: Annotated[int | None, Form(ge=1)] = None,
                      quantity: Annotated[str, Form(max_length=12)] = "1", back: Annotated[str, Form()] = "/",
                      idempotency_key: Annotated[str, Form(max_length=64)] = ""):
    raw = request.cookies.get(views.CART_COOKIE)
    cart, picks = views.read_cart(raw), views.read_baskets(raw)
    keys = views.read_cart_keys(request.cookies.get(views.CART_KEYS_COOKIE))
    target = safe_next(back) or "/"
    sep = "&" if "?" in target else "?"
    if (product_id is None) == (basket_id is None):
        return redirect(target + sep + "error=" + quote("Elija un producto o una agrobolsa."))
    if idempotency_key and idempotency_key in keys:  # the same addition sent again: already in the cart
        return redirect(target + sep + "aviso=" + quote("Carrito actualizado."), web)
    q = views.cart_quantity(quantity, whole=basket_id is not None)
    if q is None:
        return redirect(target + sep + "error=" + quote("Escriba la cantidad con números, por ejemplo 2 o 1,5."))
    views.put_in_cart(cart, picks, product_id=product_id, basket_id=basket_id, quantity=q,
                      replace=back == "/carrito")
    response = redirect(target + sep + "aviso=" + quote("Carrito actualizado."), web)
    response.set_cookie(views.CART_COOKIE, views.write_cart(cart, picks), max_age=7 * 24 * 3600, path="/",
                        httponly=True, samesite="lax")
    if idempotency_key and idempotency_key.isalnum():
        response.set_cookie(views.CART_KEYS_COOKIE, ".".join(views.read_cart_keys(".".join([*keys, idempotency_key]))),
                            max_age=7 * 24 * 3600, path="/", httponly=True, samesite="lax")
    return response


def full_point_choice(points: list[dict], full_id: int, room: str) -> dict | None:
    """After a full point: that point (to wait on its list) and the nearest points with room the
    orders service named, among the points this cart offers."""
    full = next((p for p in points if p["id"] == full_id), None)
    if full is None:
        return None
    by_id = {p["id"]: p for p in points}
    ids = [int(x) for x in room.split(",")[:5] if x.isdigit()]
    return {"point": full, "room": [by_id[i] for i in ids if i in by_id and i != full_id]}


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
                    punto: int = 0, lleno: int = 0, cupo: str = ""):
    raw_cart = request.cookies.get(views.CART_COOKIE)
    cart, picks = views.read_cart(raw_cart), views.read_baskets(raw_cart)
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
    basket_lines = []
    if cycle and picks:
        basket_lines = [{**b, "count": picks[b["id"]]} for b in await baskets_of(web, cycle["id"]) if b["id"] in picks]
    # an agrobolsa of another cycle (or withdrawn): shown to be removed, never sent with the order
    gone = [bid for bid in picks if bid not in {b["id"] for b in basket_lines}]
    full = full_point_choice(points, lleno, cupo)

    quote_data, quote_error = None, ""
    if cycle and (lines or basket_lines) and chosen:
        if web.principal is None:
            quote_error = "Ingrese con su cuenta para ver las tarifas y confirmar."
        elif web.principal.role.value != "consumer":
            quote_error = "Solo una cuenta de consumidor puede hacer pedidos."
        else:
            body = {"cycle_id": cycle["id"], "delivery_point_id": chosen,
                    "lines": [{"product_id": p["id"], "quantity": p["quantity_raw"]} for p in lines],
                    "baskets": [{"basket_id": b["id"], "count": b["count"]} for b in basket_lines]}
            try:
                quote_data = await web.call("POST", "/api/orders/orders/quote", json=body)
            except UpstreamError as exc:
                quote_error = exc.message
    figure = points_map([MapPoint(p["name"], p["lat"], p["lon"], number=i + 1, highlight=p["id"] == chosen)
                         for i, p in enumerate(points[:12])], here=here, title="Puntos de entrega") if points else ""
    return render(request, web, "cart.html", title="Mi carrito", lines=lines, baskets=basket_lines, gone=gone,
                  full=full, wait_key=uuid.uuid4().hex, move_key=uuid.uuid4().hex, cycle=cycle, points=points,
                  chosen=chosen, quote=quote_data, quote_error=quote_error, map=figure, lat=lat, lon=lon,
                  municipio=municipio, municipalities=municipalities, idempotency_key=uuid.uuid4().hex)


@router.post("/carrito/confirmar")
async def confirm(request: Request, web: Web, cycle_id: Annotated[int, Form(ge=1)],
                  delivery_point_id: Annotated[int, Form(ge=1)],
                  idempotency_key: Annotated[str, Form(max_length=64)],
                  wait_if_full: Annotated[bool, Form()] = False):
    web.require("consumer")
    raw_cart = request.cookies.get(views.CART_COOKIE)
    cart, picks = views.read_cart(raw_cart), views.read_baskets(raw_cart)
    if not cart and not picks:
        return redirect("/carrito?error=" + quote("Su carrito está vacío."), web)
    body = {"cycle_id": cycle_id, "delivery_point_id": delivery_point_id,
            "lines": [{"product_id": pid, "quantity": f"{q.normalize():f}"} for pid, q in cart.items()],
            "baskets": [{"basket_id": bid, "count": count} for bid, count in picks.items()],
            "wait_if_full": wait_if_full}
    try:
        order = await web.call("POST", "/api/orders/orders", json=body, idempotency_key=idempotency_key)
    except UpstreamError as exc:
        if exc.code == "point_full":  # the choice: wait there, or one of the nearest points with room
            room = [str(int(p["point_id"])) for p in (exc.details or {}).get("nearest_points_with_room") or []
                    if str(p.get("point_id", "")).isdigit()][:5]
            return redirect(f"/carrito?punto={delivery_point_id}&lleno={delivery_point_id}&cupo={','.join(room)}", web)
        return redirect(f"/carrito?punto={delivery_point_id}&error=" + quote(exc.message), web)
    response = redirect(f"/pedidos/{order['id']}", web)
    response.delete_cookie(views.CART_COOKIE, path="/")
    return response


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
