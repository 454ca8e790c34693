"""The "Avisos" page: the logged-in account's notifications, newest first, marking them read, and
its choice of channels (WhatsApp, SMS, e-mail) and of the kinds it does not want on its phone."""

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request

from gateway.web.csrf import refuse_cross_site_posts
from gateway.web.session import WebSession, web_session
from gateway.web.shop import redirect
from gateway.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(refuse_cross_site_posts)])
Web = Annotated[WebSession, Depends(web_session)]
CHANNEL_LABELS = {"whatsapp": "WhatsApp", "sms": "SMS", "email": "Correo"}
STATUS_LABELS = {"pending": "por enviar", "sending": "enviando", "sent": "enviado", "failed": "no se pudo enviar",
                 "skipped": "no enviado (límite diario)", "interrupted": "envío interrumpido"}


@router.get("/avisos")
async def notices(request: Request, web: Web, cursor: str = ""):
    web.require()
    page = await web.call("GET", "/api/notifications", params={"limit": 30, "cursor": cursor or None})
    prefs = await web.call("GET", "/api/notifications/preferences")
    return render(request, web, "notices.html", title="Avisos", items=page["items"], next_cursor=page["next_cursor"],
                  prefs=prefs, channel_labels=CHANNEL_LABELS, status_labels=STATUS_LABELS)


@router.post("/avisos/leidos")
async def notices_read(web: Web):
    web.require()
    await web.call("POST", "/api/notifications/read-all")
    return redirect("/avisos?aviso=" + quote("Avisos marcados como leídos."), web)


@router.post("/avisos/preferencias")
async def notices_preferences(web: Web, channels: Annotated[list[str], Form()] = (),
                              receive: Annotated[list[str], Form()] = ()):
    web.require()
    prefs = await web.call("GET", "/api/notifications/preferences")
    muted = [k["kind"] for k in prefs["kinds"] if k["kind"] not in receive and not k["security"]]
    await web.call("PUT", "/api/notifications/preferences", json={"channels": list(channels)[:3],
                                                                  "muted_kinds": muted})
    return redirect("/avisos?aviso=" + quote("Preferencias guardadas."), web)
