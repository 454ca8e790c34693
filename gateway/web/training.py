"""Pages of the training modules ("Capacitación"), for every role: the modules with my progress,
a module's lessons, a lesson with its quiz, the printable PDF of a module, and an organization's
view of its members' completion.

Pages read through `/api/training/...` like every page reads its service. The quiz is a plain form
(works without script); with the script, an answer given offline is queued in the phone and sent
when the connection returns, with the same Idempotency-Key, so it counts once. The service worker
(`/sw.js`) keeps every lesson of a module once one of them was opened.
"""

import uuid
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from gateway.training.lessons import AUDIENCES, find
from gateway.web.csrf import refuse_cross_site_posts
from gateway.web.session import UpstreamError, WebSession, web_session
from gateway.web.shop import redirect
from gateway.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(refuse_cross_site_posts)])
Web = Annotated[WebSession, Depends(web_session)]
SLUG = r"^[a-z0-9][a-z0-9-]*$"


def lesson_urls(module) -> list[str]:
    return [f"/capacitacion/{module.slug}/{lesson.slug}" for lesson in module.lessons]


@router.get("/capacitacion")
async def training_home(request: Request, web: Web):
    modules = await web.call("GET", "/api/training/modules")
    mine = await web.call("GET", "/api/training/progress") if web.logged_in else None
    return render(request, web, "training/index.html", title="Capacitación", modules=modules["items"],
                  audiences=AUDIENCES, next_lesson=(mine or {}).get("next"))


@router.get("/capacitacion/organizacion")
async def organization_members(request: Request, web: Web):
    principal = web.require("organization", "coordinator")
    organization_id = request.query_params.get("organizacion") or principal.organization_id
    if not organization_id or not str(organization_id).isdigit():
        return render(request, web, "training/members.html", title="Capacitación de los socios", data=None,
                      error="Su cuenta no está vinculada a una organización; pida a la coordinación que la vincule.")
    try:
        data = await web.call("GET", f"/api/training/organizations/{organization_id}/members")
    except UpstreamError as exc:
        return render(request, web, "training/members.html", title="Capacitación de los socios", data=None,
                      error=exc.message, status_code=exc.status)
    return render(request, web, "training/members.html", title="Capacitación de los socios", data=data)


@router.get("/capacitacion/{module}/modulo.pdf")
async def module_print(module: str):
    found, _ = find(module)
    if found is None:
        return Response("Ese módulo no existe.", status_code=404, media_type="text/plain; charset=utf-8")
    from gateway.training.pdf import module_pdf  # the PDF library loads on the first download
    return Response(module_pdf(found), media_type="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="capacitacion-{found.slug}.pdf"',
                             "Cache-Control": "public, max-age=3600"})


@router.get("/capacitacion/{module}")
async def module_page(request: Request, module: str, web: Web):
    found, _ = find(module)
    if found is None:
        return render(request, web, "error.html", title="No encontrado", status_code=404,
                      message="Ese módulo de capacitación no existe.")
    modules = await web.call("GET", "/api/training/modules")
    item = next(m for m in modules["items"] if m["module"] == found.slug)
    return render(request, web, "training/module.html", title=found.title, module=item,
                  audience=AUDIENCES[found.audience], precache=lesson_urls(found))


@router.get("/capacitacion/{module}/{lesson}")
async def lesson_page(request: Request, module: str, lesson: str, web: Web):
    found_module, found = find(module, lesson)
    if found is None:
        return render(request, web, "error.html", title="No encontrado", status_code=404,
                      message="Esa lección no existe.")
    data = await web.call("GET", f"/api/training/modules/{module}/lessons/{lesson}")
    return render(request, web, "training/lesson.html", title=found.title, lesson=data,
                  module_title=found_module.title, idempotency_key=uuid.uuid4().hex,
                  precache=lesson_urls(found_module))


@router.post("/capacitacion/{module}/{lesson}")
async def lesson_answers(request: Request, module: str, lesson: str, web: Web):
    here = f"/capacitacion/{module}/{lesson}"
    if not web.logged_in:
        return redirect(f"/ingresar?next={quote(here)}")
    _, found = find(module, lesson)
    if found is None:
        return redirect("/capacitacion")
    form = await request.form()
    answers: list[int | None] = []
    for index in range(len(found.questions)):
        raw = str(form.get(f"q{index}", ""))
        answers.append(int(raw) if raw.isdigit() else None)
    key = str(form.get("idempotency_key", ""))[:64] or uuid.uuid4().hex
    try:
        result = await web.call("POST", f"/api/training/modules/{module}/lessons/{lesson}/answers",
                                json={"answers": answers}, idempotency_key=key)
    except UpstreamError as exc:
        return web.apply(redirect(f"{here}?error={quote(exc.message)}"))
    if result["passed"]:
        message = "¡Muy bien! Lección completada."
        if result.get("next"):
            message += " Siga con la próxima lección."
    else:
        wrong = [str(i + 1) for i, ok in enumerate(result["correct"]) if not ok]
        message = f"Revise {'la pregunta' if len(wrong) == 1 else 'las preguntas'} {', '.join(wrong)} " \
                  "e intente de nuevo."
    target = f"{here}?{'aviso' if result['passed'] else 'error'}={quote(message)}"
    return web.apply(redirect(target))
