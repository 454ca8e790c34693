"""Quiz answers and progress through the gateway's API: a lesson is done once, however often its
answers arrive; an organization sees its members' completion and nobody else's; a municipality sees
its territory by gender as counts, with groups under three producers suppressed. Expected counts are
computed here from the territory's records, not read back from the code under test."""

from collections import defaultdict

import pytest
from sqlalchemy import insert

from gateway.models import Account
from gateway.training.lessons import catalogue
from services.common.tables import utcnow
from tests.monitoring.conftest import MUNICIPALITIES, PRODUCERS, territory

pytestmark = pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)

VENDER = next(m for m in catalogue() if m.slug == "01-vender")
FIRST = VENDER.lessons[0]
RIGHT = [q.answer for q in FIRST.questions]
WRONG = [(a + 1) % len(q.choices) for a, q in zip(RIGHT, FIRST.questions, strict=True)]
ANSWERS = f"/api/training/modules/{VENDER.slug}/lessons/{FIRST.slug}/answers"
# accounts linked to producers of the territory (producer id -> account id)
ACCOUNTS = {pid: 7000 + pid for pid, *_ in PRODUCERS}


async def add_accounts(t) -> None:
    now = utcnow()
    rows = [{"id": account_id, "email": f"p{pid}@example.bo", "password_hash": "x", "name": f"Productor {pid}",
             "role": "producer", "producer_id": pid, "is_active": True, "created_at": now, "updated_at": now} for pid, account_id in ACCOUNTS.items()]
    rows.append({"id": 7999, "email": "org1@example.bo", "password_hash": "x", "name": "Org 1",
                 "role": "organization", "organization_id": 1, "is_active": True, "created_at": now,
                 "updated_at": now})
    async with t.gateway.state.db.session() as session:
        await session.execute(insert(Account), rows)


def producer_headers(keys, pid: int) -> dict:
    return keys.headers("producer", account_id=ACCOUNTS[pid], producer_id=pid)


async def complete_module(t, keys, pid: int, module=VENDER) -> None:
    for lesson in module.lessons:
        answers = [q.answer for q in lesson.questions]
        r = await t.client.post(f"/api/training/modules/{module.slug}/lessons/{lesson.slug}/answers",
                                json={"answers": answers}, headers=producer_headers(keys, pid))
        assert r.status_code == 200, r.text


async def test_lessons_are_public_and_never_reveal_the_answers(migrated, keys, backend):
    async with territory(migrated, keys, backend, seed=False) as t:
        modules = (await t.client.get("/api/training/modules")).json()["items"]
        assert [m["module"] for m in modules] == [m.slug for m in catalogue()]
        lesson = (await t.client.get(f"/api/training/modules/{VENDER.slug}/lessons/{FIRST.slug}")).json()
        assert lesson["title"] == FIRST.title and lesson["next"] == VENDER.lessons[1].slug
        assert all(set(q) == {"text", "choices"} for q in lesson["questions"])
        assert (await t.client.get(f"/api/training/modules/{VENDER.slug}/lessons/no-existe")).status_code == 404
        assert (await t.client.post(ANSWERS, json={"answers": RIGHT})).status_code == 401


async def test_a_lesson_is_completed_once_however_often_its_answers_arrive(migrated, keys, backend):
    async with territory(migrated, keys, backend) as t:
        await add_accounts(t)
        headers = producer_headers(keys, 1)
        wrong = (await t.client.post(ANSWERS, json={"answers": WRONG}, headers=headers)).json()
        assert wrong["passed"] is False and wrong["correct"] == [False] * len(WRONG)
        first = (await t.client.post(ANSWERS, json={"answers": RIGHT}, headers=headers)).json()
        again = (await t.client.post(ANSWERS, json={"answers": RIGHT}, headers=headers)).json()
        assert (first["passed"], first["first_completion"]) == (True, True)
        assert (again["passed"], again["first_completion"]) == (True, False)
        mine = (await t.client.get("/api/training/progress", headers=headers)).json()
        lessons = {lesson["lesson"]: lesson for m in mine["modules"] for lesson in m["lessons"]}
        assert lessons[FIRST.slug]["done"] and lessons[FIRST.slug]["attempts"] == 3
        assert mine["next"]["lesson"] == VENDER.lessons[1].slug  # a producer is shown what comes next


async def test_answers_resent_with_the_same_idempotency_key_count_once(migrated, keys, backend):
    async with territory(migrated, keys, backend) as t:
        await add_accounts(t)
        headers = {**producer_headers(keys, 2), "Idempotency-Key": "quiz-offline-1"}
        for _ in range(3):  # an offline queue that sent the same answer three times
            r = await t.client.post(ANSWERS, json={"answers": RIGHT}, headers=headers)
            assert r.status_code == 200 and r.json()["first_completion"] is True
        mine = (await t.client.get("/api/training/progress", headers=producer_headers(keys, 2))).json()
        lessons = {lesson["lesson"]: lesson for m in mine["modules"] for lesson in m["lessons"]}
        assert lessons[FIRST.slug]["attempts"] == 1


async def test_answers_that_do_not_fit_the_quiz_are_refused(migrated, keys, backend):
    async with territory(migrated, keys, backend) as t:
        await add_accounts(t)
        headers = producer_headers(keys, 1)
        short = await t.client.post(ANSWERS, json={"answers": RIGHT[:1]}, headers=headers)
        assert short.status_code == 422 and short.json()["error"]["code"] == "answers_mismatch"
        far = await t.client.post(ANSWERS, json={"answers": [99] * len(RIGHT)}, headers=headers)
        assert far.status_code == 422 and far.json()["error"]["code"] == "answer_out_of_range"


async def test_organization_sees_which_members_completed_which_module(migrated, keys, backend):
    async with territory(migrated, keys, backend) as t:
        await add_accounts(t)
        await complete_module(t, keys, 1)  # Juana, organization 1, completes "Vender"
        await t.client.post(ANSWERS, json={"answers": RIGHT}, headers=producer_headers(keys, 2))  # one lesson only
        org = keys.headers("organization", account_id=7999, organization_id=1)
        data = (await t.client.get("/api/training/organizations/1/members", headers=org)).json()
        members = {row["producer_id"]: row for row in data["members"]}
        assert set(members) == {pid for pid, *rest in PRODUCERS if rest[-1] == 1}
        assert members[1]["modules"][VENDER.slug] is True and members[1]["lessons_done"] == len(VENDER.lessons)
        assert members[2]["modules"][VENDER.slug] is False and members[2]["lessons_done"] == 1
        other = keys.headers("organization", account_id=7998, organization_id=2)
        refused = await t.client.get("/api/training/organizations/1/members", headers=other)
        assert refused.status_code == 403
        producer = await t.client.get("/api/training/organizations/1/members", headers=producer_headers(keys, 1))
        assert producer.status_code == 403


def expected_by_gender(codes: set[str], completed: set[int]) -> dict[str, tuple[int, int]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for pid, _name, gender, _phone, municipality, _org in PRODUCERS:
        if municipality in codes:
            groups[gender].append(pid)
    return {g: (len(pids), sum(1 for p in pids if p in completed)) for g, pids in groups.items()}


async def test_municipality_sees_completion_by_gender_with_small_groups_suppressed(migrated, keys, backend):
    async with territory(migrated, keys, backend) as t:
        await add_accounts(t)
        for pid in (1, 3, 6):
            await complete_module(t, keys, pid)
        # La Paz department (coordinator): groups of three women and three men are shown
        coordinator = keys.headers("coordinator")
        department = (await t.client.get("/api/training/territory", params={"department": "La Paz"},
                                         headers=coordinator)).json()
        codes = {code for code, _n, _p, dep, *_ in MUNICIPALITIES if dep == "La Paz"}
        expected = expected_by_gender(codes, {1, 3, 6})
        rows = {r["gender"]: r for r in department["rows"] if r["module"] == VENDER.slug}
        for gender, (producers, completed) in expected.items():
            assert (rows[gender]["producers"], rows[gender]["completed"]) == (producers, completed)
        # the municipality of La Paz alone has two women and two men: nobody can be singled out
        own = keys.headers("municipality", municipality_code="020101")
        report = (await t.client.get("/api/monitoring/report", headers=own)).json()
        training = [r for r in report["training"]["rows"] if r["module"] == VENDER.slug]
        assert training and all(r["suppressed"] and r["completed"] is None for r in training)
        assert (await t.client.get("/api/training/territory", params={"municipality": "020105"},
                                   headers=own)).status_code == 403
