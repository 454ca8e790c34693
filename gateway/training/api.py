"""`/api/training/...`: the lessons (public), an account's quiz answers and progress, and the
completion views of an organization (its members) and a municipality (its territory, by gender).

Who may see what:
- lessons and modules: everyone, logged in or not;
- answers and own progress: the logged-in account, for itself only;
- an organization's members: that organization's account, coordinators and admins;
- a territory: as in monitoring (a municipality its own; coordinators and admins any), as counts
  only, groups under the minimum suppressed.
"""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from gateway.monitoring.access import Scope, resolve_scope
from gateway.monitoring.sources import clients, every_item, municipality_codes
from gateway.training import progress
from gateway.training.lessons import ROLE_AUDIENCES, Lesson, Module, catalogue, find
from services.common.app import Session
from services.common.auth import CurrentPrincipal, OptionalPrincipal, Principal, Role
from services.common.disclosure import MINIMUM_PRODUCERS
from services.common.errors import Forbidden, NotFound

router = APIRouter(prefix="/api/training", tags=["training"])

Slug = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=80)]
MAX_PRODUCER_PAGES = 200


class AnswersIn(BaseModel):
    answers: list[int | None] = Field(max_length=10, description="the index of the chosen option per question")


def lesson_or_404(module_slug: str, lesson_slug: str) -> tuple[Module, Lesson]:
    module, lesson = find(module_slug, lesson_slug)
    if module is None or lesson is None:
        raise NotFound(f"no lesson {module_slug}/{lesson_slug}", code="lesson_not_found")
    return module, lesson


def lesson_public(module: Module, lesson: Lesson) -> dict:
    after = module.next_after(lesson)
    return {"module": module.slug, "lesson": lesson.slug, "title": lesson.title, "audience": lesson.audience,
            "minutes": lesson.minutes, "html": lesson.html,
            "questions": [{"text": q.text, "choices": list(q.choices)} for q in lesson.questions],
            "next": after.slug if after else None}


@router.get("/modules", summary="Training modules and their lessons (with my progress when logged in)")
async def list_modules(session: Session, principal: OptionalPrincipal):
    passed: set[str] = set()
    if principal is not None:
        passed = (await progress.done_lessons(session=session, account_ids=[principal.account_id])).get(
            principal.account_id, set())
    return {"items": [{"module": m.slug, "title": m.title, "audience": m.audience, "summary": m.summary,
                       "minutes": sum(lesson.minutes for lesson in m.lessons),
                       "done": progress.module_done(m, passed),
                       "lessons": [{"lesson": lesson.slug, "title": lesson.title, "minutes": lesson.minutes,
                                    "done": lesson.key in passed} for lesson in m.lessons]}
                      for m in catalogue()]}


@router.get("/modules/{module}/lessons/{lesson}", summary="One lesson: its text and its quiz (without answers)")
async def get_lesson(module: Slug, lesson: Slug):
    return lesson_public(*lesson_or_404(module, lesson))


@router.post("/modules/{module}/lessons/{lesson}/answers",
             summary="Answer a lesson's quiz; the lesson is done when every answer is right")
async def answer_lesson(module: Slug, lesson: Slug, body: AnswersIn, session: Session,
                        principal: CurrentPrincipal):
    found_module, found = lesson_or_404(module, lesson)
    outcome = await progress.record_answers(session=session, principal=principal, lesson=found,
                                            answers=body.answers)
    after = found_module.next_after(found)
    return {"module": module, "lesson": lesson, "correct": outcome.correct, "passed": outcome.passed,
            "first_completion": outcome.first_completion, "attempts": outcome.attempts,
            "next": after.slug if after else None}


@router.get("/progress", summary="My progress: lessons done per module and what comes next")
async def my_progress(session: Session, principal: CurrentPrincipal):
    passed, attempts = await progress.account_progress(session=session, account_id=principal.account_id)
    nxt = progress.next_lesson(catalogue(), passed, ROLE_AUDIENCES.get(principal.role.value, ()))
    return {"modules": progress.my_progress(passed, attempts),
            "next": {"module": nxt.module, "lesson": nxt.slug, "title": nxt.title} if nxt else None}


async def producers_where(request: Request, **filters) -> list[dict]:
    """The catalog's producers matching the filters, every page (with the service credential)."""
    params = [*((key, str(value)) for key, value in filters.items()), ("limit", "100")]
    return await every_item(clients(request)["catalog"], "/producers", params, max_pages=MAX_PRODUCER_PAGES)


def ensure_may_see_organization(principal: Principal, organization_id: int) -> None:
    if principal.has_role(Role.coordinator):
        return
    if principal.role == Role.organization and principal.organization_id == organization_id:
        return
    raise Forbidden("only the organization itself, coordinators and admins see its members' training",
                    code="not_your_organization")


@router.get("/organizations/{organization_id}/members",
            summary="Which members of an organization completed which module")
async def organization_members(organization_id: Annotated[int, Path(ge=1, le=2**53)], request: Request,
                               session: Session, principal: CurrentPrincipal):
    ensure_may_see_organization(principal, organization_id)
    members = await producers_where(request, organization=organization_id)
    rows = await progress.members_completion(session=session, members=members)
    return {"organization_id": organization_id,
            "modules": [{"module": m.slug, "title": m.title, "audience": m.audience} for m in catalogue()],
            "members": rows}


async def completion_in(request: Request, session, scope: Scope) -> dict:
    """Training completion per module and gender in a territory the caller may see (see monitoring)."""
    codes = await municipality_codes(clients(request), scope)
    producers: list[dict] = []
    for code in codes if codes is not None else [None]:
        producers.extend(await producers_where(request, **({"municipality": code} if code else {})))
    rows = await progress.territory_completion(session=session, producers=producers)
    return {"scope": scope.as_dict(), "minimum_group": MINIMUM_PRODUCERS, "rows": rows}


@router.get("/territory", summary="Training completion in a territory, per module and gender (counts only)")
async def territory(request: Request, session: Session, principal: CurrentPrincipal,
                    municipality: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
                    department: Annotated[str | None, Query(max_length=60)] = None):
    scope = resolve_scope(principal, municipality=municipality, department=department, date_from=None,
                          date_to=None)
    return await completion_in(request, session, scope)
