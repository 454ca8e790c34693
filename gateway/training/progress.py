"""Who has done which lesson: recording quiz answers and reading progress back.

Rules:
- any logged-in account records its own answers; a lesson counts as done the first time every
  question is answered right (`passed_at`), and later answers only add attempts;
- one row per (account, lesson), claimed with `INSERT ... ON CONFLICT DO NOTHING` then updated in
  place, so two submissions of the same answers (a retry, an offline queue sent twice) never make a
  second completion;
- an organization sees its members' completion per module; a municipality its territory's, by
  gender, with groups under the kernel's disclosure minimum suppressed.
"""

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.models import Account, LessonProgress
from gateway.training.lessons import Lesson, Module, catalogue, grade
from services.common.auth import Principal
from services.common.disclosure import suppress_small_groups
from services.common.errors import InvalidInput
from services.common.tables import insert_ignoring_conflict, utcnow


@dataclass(frozen=True)
class Outcome:
    correct: list[bool]
    passed: bool
    first_completion: bool
    attempts: int


async def record_answers(*, session: AsyncSession, principal: Principal, lesson: Lesson,
                         answers: list[int | None]) -> Outcome:
    """Grade the answers and record them on the account's progress row."""
    if len(answers) != len(lesson.questions):
        raise InvalidInput(f"esta lección tiene {len(lesson.questions)} preguntas; llegaron {len(answers)} respuestas",
                           code="answers_mismatch", details={"questions": len(lesson.questions)})
    for index, (answer, question) in enumerate(zip(answers, lesson.questions, strict=True)):
        if answer is not None and not 0 <= answer < len(question.choices):
            raise InvalidInput(f"la pregunta {index + 1} tiene {len(question.choices)} opciones",
                               code="answer_out_of_range", details={"question": index + 1})
    correct = grade(lesson, answers)
    score, passed, now = sum(correct), all(correct), utcnow()
    table = LessonProgress.__table__
    await session.execute(insert_ignoring_conflict(session, table).values(
        account_id=principal.account_id, lesson_key=lesson.key, attempts=0, best_score=0, passed_at=None,
        updated_at=now))
    row = (await session.execute(
        select(LessonProgress).where(LessonProgress.account_id == principal.account_id,
                                     LessonProgress.lesson_key == lesson.key).with_for_update())).scalar_one()
    first = passed and row.passed_at is None
    await session.execute(
        update(table).where(table.c.id == row.id).values(
            attempts=table.c.attempts + 1, best_score=max(row.best_score, score),
            passed_at=now if first else row.passed_at, updated_at=now))
    return Outcome(correct=correct, passed=passed, first_completion=first, attempts=row.attempts + 1)


async def done_lessons(*, session: AsyncSession, account_ids: list[int]) -> dict[int, set[str]]:
    """The lessons each account has passed."""
    if not account_ids:
        return {}
    rows = await session.execute(select(LessonProgress.account_id, LessonProgress.lesson_key)
                                 .where(LessonProgress.account_id.in_(account_ids),
                                        LessonProgress.passed_at.is_not(None)))
    out: dict[int, set[str]] = {account_id: set() for account_id in account_ids}
    for account_id, key in rows:
        out[account_id].add(key)
    return out


def module_done(module: Module, passed: set[str]) -> bool:
    return all(lesson.key in passed for lesson in module.lessons)


def next_lesson(modules: tuple[Module, ...], passed: set[str], audiences: tuple[str, ...]) -> Lesson | None:
    """The first lesson not yet passed, in the modules meant for the account's audiences first."""
    ordered = [m for a in audiences for m in modules if m.audience == a] + \
        [m for m in modules if m.audience not in audiences]
    for module in ordered:
        for lesson in module.lessons:
            if lesson.key not in passed:
                return lesson
    return None


async def account_progress(*, session: AsyncSession, account_id: int) -> tuple[set[str], dict[str, int]]:
    """The lessons the account passed, and how many times it answered each lesson's quiz (one read)."""
    rows = (await session.execute(select(LessonProgress.lesson_key, LessonProgress.attempts, LessonProgress.passed_at)
                                  .where(LessonProgress.account_id == account_id))).all()
    return {key for key, _, passed_at in rows if passed_at is not None}, {key: attempts for key, attempts, _ in rows}


def my_progress(passed: set[str], attempts: dict[str, int]) -> list[dict]:
    return [{"module": m.slug, "title": m.title, "audience": m.audience,
             "lessons": [{"lesson": lesson.slug, "title": lesson.title, "done": lesson.key in passed,
                          "attempts": attempts.get(lesson.key, 0)} for lesson in m.lessons],
             "done": module_done(m, passed)} for m in catalogue()]


async def accounts_of_producers(*, session: AsyncSession, producer_ids: list[int]) -> dict[int, int]:
    """producer id -> the active account linked to her (a producer without phone has none)."""
    if not producer_ids:
        return {}
    rows = await session.execute(select(Account.producer_id, Account.id)
                                 .where(Account.producer_id.in_(producer_ids), Account.is_active.is_(True))
                                 .order_by(Account.id))
    out: dict[int, int] = {}
    for producer_id, account_id in rows:
        out.setdefault(producer_id, account_id)
    return out


async def members_completion(*, session: AsyncSession, members: list[dict]) -> list[dict]:
    """For each member producer (catalog's view: id, name, gender), which modules she completed."""
    links = await accounts_of_producers(session=session, producer_ids=[m["id"] for m in members])
    passed = await done_lessons(session=session, account_ids=list(set(links.values())))
    modules = catalogue()
    out = []
    for member in members:
        account_id = links.get(member["id"])
        done = passed.get(account_id, set()) if account_id else set()
        out.append({"producer_id": member["id"], "name": member.get("name", ""),
                    "has_account": account_id is not None,
                    "modules": {m.slug: module_done(m, done) for m in modules},
                    "lessons_done": sum(1 for m in modules for lesson in m.lessons if lesson.key in done)})
    return out


async def territory_completion(*, session: AsyncSession, producers: list[dict]) -> list[dict]:
    """Per module and gender: producers of the territory and how many completed it. A group with
    fewer producers than the kernel's disclosure minimum shows no counts, so nobody is singled out."""
    links = await accounts_of_producers(session=session, producer_ids=[p["id"] for p in producers])
    passed = await done_lessons(session=session, account_ids=list(set(links.values())))
    out = []
    for module in catalogue():
        for gender in ("female", "male", "other"):
            group = [p for p in producers if p.get("gender") == gender]
            completed = sum(1 for p in group if links.get(p["id"]) and module_done(module, passed[links[p["id"]]]))
            out.append({"module": module.slug, "title": module.title, "gender": gender,
                        "producers": len(group), "completed": completed, "suppressed": False})
    return suppress_small_groups(out, key="producers", figures=("producers", "completed"))
