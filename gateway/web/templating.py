"""The Jinja2 environment of the pages: templates next to this file, Spanish filters for amounts."""

from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from gateway.training.lessons import lesson_href
from gateway.web import views
from gateway.web.csrf import keep_token, token_for
from gateway.web.session import WebSession

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
# everything comes from us: no inline script or style, no other host, no framing
CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
templates.env.filters.update(bs=views.bs, bs_cents=views.bs_cents, qty=views.qty, category=views.category_label,
                             status=views.status_label, day=views.day, moment=views.moment)
templates.env.globals.update(role_home=views.ROLE_HOME, lesson_href=lesson_href)


def render(request: Request, session: WebSession, name: str, status_code: int = 200, **context) -> HTMLResponse:
    """A page, with the session's cookies applied; `flash` from the query string is shown once."""
    context.setdefault("flash", request.query_params.get("aviso", "")[:200])
    context.setdefault("error", request.query_params.get("error", "")[:300])
    context.setdefault("title", "Mercado Corto")
    context["csrf_token"] = token_for(request)  # every form of the page posts it back
    response = templates.TemplateResponse(request, name, {"user": session.principal, "unread": session.unread,
                                                          "point_staff": session.on_point_duty,
                                                          **context},
                                          status_code=status_code)
    keep_token(request, response)
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return session.apply(response)
