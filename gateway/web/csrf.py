"""Web forms refuse cross-site posts.

Two checks on every form post, either of which stops a page on another site from acting in the
visitor's name with her cookies:
- the browser says where the post comes from: `Origin` (or, failing that, `Referer`) must name this
  host; a post that names another, or neither, is refused;
- the form carries the session's token: a random value kept in an HttpOnly cookie (`mc_csrf`) and
  written into every form as `csrf_token`; another site can neither read the cookie nor the page.
The token is made on the first page, and renewed at login and logout, so a value planted before
login is useless after it. A refused post gets a 403 page asking to reload and try again.
"""

import hmac
import secrets
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import Response

from services.common.errors import DomainError

CSRF_COOKIE = "mc_csrf"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CrossSitePost(DomainError):
    status, code = 403, "cross_site_post"


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_for(request: Request) -> str:
    """The session's token for the forms of this page (made now if the visitor has none yet)."""
    current = getattr(request.state, "csrf_token", None) or request.cookies.get(CSRF_COOKIE)
    if not current:
        current = request.state.csrf_token = new_token()
    return current


def keep_token(request: Request, response: Response, *, renew: bool = False) -> None:
    """Set the cookie when the token is new (or renew it: login, logout)."""
    if renew:
        request.state.csrf_token = new_token()
    token = getattr(request.state, "csrf_token", None)
    if token and token != request.cookies.get(CSRF_COOKIE):
        secure = getattr(request.app.state.settings, "environment", "development") != "development"
        response.set_cookie(CSRF_COOKIE, token, path="/", httponly=True, samesite="lax", secure=secure)


def _host_of(url: str) -> str | None:
    try:
        return urlsplit(url).netloc.lower() or None
    except ValueError:
        return None


def comes_from_this_site(request: Request) -> bool:
    host = request.headers.get("host", "").lower()
    origin = request.headers.get("origin")
    if origin is not None:
        return origin != "null" and _host_of(origin) == host
    referer = request.headers.get("referer")
    return referer is not None and _host_of(referer) == host


async def refuse_cross_site_posts(request: Request) -> None:
    """Dependency of every page router: form posts must come from our own pages."""
    if request.method in SAFE_METHODS:
        return
    refused = CrossSitePost("Este formulario no vino de nuestras páginas; recargue la página e intente de nuevo.")
    if not comes_from_this_site(request):
        raise refused
    cookie = request.cookies.get(CSRF_COOKIE, "")
    given = (await request.form()).get(CSRF_FIELD, "")
    if not cookie or not isinstance(given, str) or not hmac.compare_digest(cookie.encode(), given.encode()):
        raise refused
