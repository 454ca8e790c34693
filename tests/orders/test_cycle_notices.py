"""What orders tells about a cycle as a whole: it opened (producers), it closes soon (its coordinator,
once, some hours before), it is settled (the producers who sold in it)."""

from datetime import timedelta

from sqlalchemy import select

from services.orders.cycle_notices import announce_closing_soon
from services.orders.models import kernel
from tests.orders.conftest import COORDINATOR, platform


async def _events(p, event_type: str) -> list[dict]:
    async with p.orders_db.session() as s:
        return list((await s.execute(select(kernel.outbox.c.payload).where(kernel.outbox.c.event_type == event_type)
                                     .order_by(kernel.outbox.c.id))).scalars())


async def _announce(p, hours: float) -> list[int]:
    async with p.orders_db.session() as s:
        return await announce_closing_soon(session=s, kernel=kernel, within_hours=hours)


async def test_a_cycle_tells_when_it_opens_closes_soon_once_and_is_settled(migrated, keys, backend):
    async with platform(migrated, keys, backend) as p:
        papa = await p.product()
        point = await p.point()
        soon = await p.open_cycle(points=[point], closes_in=timedelta(hours=3), name="Feria del sábado")
        later = await p.open_cycle(points=[point], closes_in=timedelta(days=3), name="Feria del mes")
        draft = await p.orders.post("/cycles", headers=p.coordinator(), json={
            **{k: soon[k] for k in ("opens_at", "closes_at", "delivery_date", "delivery_point_ids")},
            "name": "Borrador", "status": "draft"})
        assert draft.status_code == 201, draft.text
        assert [(e["cycle_id"], e["name"]) for e in await _events(p, "cycle.opened")] == [
            (soon["id"], "Feria del sábado"), (later["id"], "Feria del mes")]  # a draft is not open yet
        opened = await p.orders.patch(f"/cycles/{draft.json()['id']}", json={"status": "open"},
                                      headers=p.coordinator())
        assert opened.status_code == 200, opened.text
        assert (await _events(p, "cycle.opened"))[-1]["cycle_id"] == draft.json()["id"]

        placed = await p.order(consumer=1, cycle=soon["id"], point=point, lines=[{"product_id": papa, "quantity": "1"}])
        assert placed.status_code == 201, placed.text
        # only what closes within the hours is announced, and only once however often the duty runs
        assert sorted(await _announce(p, 6)) == sorted([soon["id"], draft.json()["id"]])
        assert await _announce(p, 6) == []
        [notice] = [e for e in await _events(p, "cycle.closing_soon") if e["cycle_id"] == soon["id"]]
        assert (notice["coordinator_account_id"], notice["orders_placed"], notice["orders_waitlisted"]) == (
            COORDINATOR, 1, 0)

        closed = await p.orders.post(f"/cycles/{soon['id']}/close", headers=p.coordinator())
        assert closed.status_code == 200, closed.text
        for status in ("delivered", "settled"):
            moved = await p.orders.patch(f"/cycles/{soon['id']}", json={"status": status}, headers=p.coordinator())
            assert moved.status_code == 200, moved.text
        [settled] = await _events(p, "cycle.settled")
        assert (settled["cycle_id"], settled["producer_ids"]) == (soon["id"], [await p.producer()])
