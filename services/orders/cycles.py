"""Order cycles: creating and editing them (coordinators), their status, closing, agrobolsas.

A cycle belongs to the coordinator who created it (admins may act on any). Statuses move
draft -> open -> closed -> consolidated -> delivered -> settled; closing happens at `closes_at`
(background check, or lazily when an order arrives late) or by hand.
"""

from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal
from services.common.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    ServiceUnavailable,
)
from services.common.events import emit
from services.common.schedules import WEEKDAYS, closed_on, days_text
from services.common.tables import utcnow
from services.orders import cycle_notices
from services.orders.models import baskets, cycles

TRANSITIONS = {
    "draft": {"open"},
    "open": {"closed"},
    "closed": {"consolidated"},
    "consolidated": {"delivered"},
    "delivered": {"settled"},
    "settled": set(),
}
EDITABLE = {"draft", "open"}


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything here is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def cycle_out(row) -> dict:
    return {
        "id": row.id, "name": row.name, "coordinator_account_id": row.coordinator_account_id,
        "status": row.status, "opens_at": aware(row.opens_at), "closes_at": aware(row.closes_at),
        "delivery_date": row.delivery_date, "delivery_point_ids": row.point_ids,
        "product_ids": row.product_ids, "point_capacity": row.point_capacity, "fee_rules": row.fee_rules,
        "created_at": aware(row.created_at), "closed_at": aware(row.closed_at),
        "consolidated_at": aware(row.consolidated_at),
    }


def is_due(row, now: datetime | None = None) -> bool:
    return row.status == "open" and aware(row.closes_at) <= (now or utcnow())


async def fetch_points(*, delivery, point_ids: list[int]) -> list[dict]:
    """The delivery points as delivery describes them (GET /points/{id}: name, schedule, ...);
    every one must exist."""
    found, missing = [], []
    for point_id in point_ids:
        try:
            found.append(await delivery.call("GET", f"/points/{point_id}"))
        except ServiceUnavailable:
            raise
        except DomainError as exc:
            if exc.status == 404:
                missing.append(point_id)
            else:
                raise ServiceUnavailable("the delivery service refused to describe a point",
                                         details={"service": "delivery", "point_id": point_id}) from None
    if missing:
        raise InvalidInput(f"delivery points not found: {', '.join(map(str, missing))}",
                           code="point_not_found", details={"point_ids": missing})
    return found


def check_points_serve(*, points: list[dict], delivery_date: date) -> None:
    """Every point of a cycle opens on its delivery day, or the cycle is refused (422) naming the
    closed points and the days they open."""
    closed = closed_on(points, delivery_date)
    if not closed:
        return
    day = WEEKDAYS[delivery_date.weekday()]
    named = "; ".join(f"«{p['name']}» (id {p['id']}) abre {days_text(p['open_days'])}"
                      for p in closed)
    raise InvalidInput(
        f"La fecha de entrega {delivery_date:%d/%m/%Y} es {day} y estos puntos no abren ese día: {named}. "
        "Elija una fecha en la que abran todos los puntos del ciclo, o quite esos puntos.",
        code="point_closed_on_delivery_day",
        details={"delivery_date": delivery_date.isoformat(), "weekday": day, "points": closed})


async def check_cycle_points(*, delivery, point_ids: list[int], delivery_date: date) -> None:
    check_points_serve(points=await fetch_points(delivery=delivery, point_ids=point_ids),
                       delivery_date=delivery_date)


async def load_cycle(*, session: AsyncSession, cycle_id: int, lock: str | None = None):
    query = select(cycles).where(cycles.c.id == cycle_id)
    if lock == "update":
        query = query.with_for_update()
    elif lock == "share":
        query = query.with_for_update(read=True)
    row = (await session.execute(query)).first()
    if row is None:
        raise NotFound(f"cycle {cycle_id} not found", code="cycle_not_found")
    return row


def check_owner(*, principal: Principal, cycle) -> None:
    if not (principal.is_admin or cycle.coordinator_account_id == principal.account_id):
        raise Forbidden("this cycle belongs to another coordinator", code="not_your_cycle")


def _fee_rules_json(rules) -> list[dict]:
    return [r.model_dump() if hasattr(r, "model_dump") else dict(r) for r in rules]


async def create_cycle(*, session: AsyncSession, kernel, delivery, principal: Principal, data) -> dict:
    await check_cycle_points(delivery=delivery, point_ids=data.delivery_point_ids, delivery_date=data.delivery_date)
    now = utcnow()
    values = dict(
        name=data.name, coordinator_account_id=principal.account_id, status=data.status,
        opens_at=data.opens_at, closes_at=data.closes_at, delivery_date=data.delivery_date,
        point_ids=data.delivery_point_ids, point_capacity=data.point_capacity,
        product_ids=data.product_ids, fee_rules=_fee_rules_json(data.fee_rules), created_at=now,
    )
    cycle_id = (await session.execute(insert(cycles).values(**values).returning(cycles.c.id))).scalar_one()
    cycle = await load_cycle(session=session, cycle_id=cycle_id)
    if cycle.status == "open":
        await cycle_notices.emit_opened(session=session, kernel=kernel, cycle=cycle)
    return cycle_out(cycle)


async def update_cycle(*, session: AsyncSession, kernel, delivery, principal: Principal, cycle_id: int,
                       data) -> dict:
    """Edit a draft or open cycle; `status` moves it one step along its lifecycle. A changed
    `point_capacity` is told to delivery (`cycle.capacity_changed`): a raise promotes waiting orders."""
    cycle = await load_cycle(session=session, cycle_id=cycle_id, lock="update")
    check_owner(principal=principal, cycle=cycle)
    changes = data.model_dump(exclude_unset=True, exclude={"status"})
    if changes and cycle.status not in EDITABLE:
        raise Conflict(f"a {cycle.status} cycle cannot be edited any more", code="cycle_not_editable")
    values = {}
    if "delivery_point_ids" in changes and changes["delivery_point_ids"] is not None:
        values["point_ids"] = list(dict.fromkeys(changes["delivery_point_ids"]))
    for field in ("name", "opens_at", "closes_at", "delivery_date", "point_capacity"):
        if changes.get(field) is not None:
            values[field] = changes[field]
    if "product_ids" in changes:
        values["product_ids"] = (None if changes["product_ids"] is None
                                 else list(dict.fromkeys(changes["product_ids"])))
    if changes.get("fee_rules") is not None:
        values["fee_rules"] = _fee_rules_json(data.fee_rules)
    opens = values.get("opens_at", aware(cycle.opens_at))
    closes = values.get("closes_at", aware(cycle.closes_at))
    if closes <= opens:
        raise InvalidInput("closes_at must be after opens_at", code="invalid_dates")
    if values.get("delivery_date", cycle.delivery_date) < closes.date():
        raise InvalidInput("delivery_date cannot be before the cycle closes", code="invalid_dates")
    points = values.get("point_ids", cycle.point_ids)
    if "point_ids" in values or "delivery_date" in values:
        await check_cycle_points(delivery=delivery, point_ids=points,
                                 delivery_date=values.get("delivery_date", cycle.delivery_date))
    for key in values.get("point_capacity", cycle.point_capacity):
        if not key.isdigit() or int(key) not in points:
            raise InvalidInput(f"point_capacity names point {key!r}, which the cycle does not serve",
                               code="invalid_point_capacity")
    if data.status is not None and data.status != cycle.status:
        if data.status not in TRANSITIONS[cycle.status]:
            raise Conflict(f"a {cycle.status} cycle cannot become {data.status}", code="invalid_transition",
                           details={"from": cycle.status, "to": data.status,
                                    "allowed": sorted(TRANSITIONS[cycle.status])})
        if data.status in ("closed", "consolidated"):
            raise Conflict("close a cycle with POST /cycles/{id}/close", code="invalid_transition")
        values["status"] = data.status
    if values:
        await session.execute(update(cycles).where(cycles.c.id == cycle_id).values(**values))
    if "point_capacity" in values and values["point_capacity"] != cycle.point_capacity:
        await emit(session, kernel, event_type="cycle.capacity_changed", aggregate_id=cycle_id,
                   payload={"cycle_id": cycle_id, "point_capacity": values["point_capacity"]})
    updated = await load_cycle(session=session, cycle_id=cycle_id)
    if values.get("status") == "open":
        await cycle_notices.emit_opened(session=session, kernel=kernel, cycle=updated)
    elif values.get("status") == "settled":
        await cycle_notices.emit_settled(session=session, kernel=kernel, cycle=updated)
    return cycle_out(updated)


async def mark_closed(*, session: AsyncSession, cycle_id: int) -> bool:
    """Open -> closed, once (a conditional update: concurrent closers cannot both win). Close through
    `waitlist.close_cycle`, which also cancels the orders still waiting."""
    result = await session.execute(update(cycles).where(cycles.c.id == cycle_id, cycles.c.status == "open")
                                   .values(status="closed", closed_at=utcnow()))
    return result.rowcount == 1


async def due_cycle_ids(*, session: AsyncSession) -> list[int]:
    rows = await session.execute(select(cycles.c.id).where(cycles.c.status == "open",
                                                           cycles.c.closes_at <= utcnow()))
    return [r[0] for r in rows]


async def list_cycles(*, session: AsyncSession, status: str | None, mine_of: int | None,
                      limit: int, cursor: list | None) -> tuple[list[dict], list | None]:
    query = select(cycles).order_by(cycles.c.id.desc()).limit(limit + 1)
    if status:
        query = query.where(cycles.c.status == status)
    if mine_of is not None:
        query = query.where(cycles.c.coordinator_account_id == mine_of)
    if cursor:
        try:
            query = query.where(cycles.c.id < int(cursor[0]))
        except (TypeError, ValueError):
            raise InvalidInput("cursor is not valid", code="invalid_cursor") from None
    rows = (await session.execute(query)).all()
    nxt = [rows[limit - 1].id] if len(rows) > limit else None
    return [cycle_out(r) for r in rows[:limit]], nxt


def basket_out(row) -> dict:
    return {"id": row.id, "cycle_id": row.cycle_id, "name": row.name, "description": row.description,
            "lines": row.lines, "active": row.active}


async def create_basket(*, session: AsyncSession, principal: Principal, cycle_id: int, data) -> dict:
    cycle = await load_cycle(session=session, cycle_id=cycle_id)
    check_owner(principal=principal, cycle=cycle)
    if cycle.status not in EDITABLE:
        raise Conflict(f"agrobolsas cannot be added to a {cycle.status} cycle", code="cycle_not_editable")
    if cycle.product_ids is not None:
        outside = [line.product_id for line in data.lines if line.product_id not in cycle.product_ids]
        if outside:
            raise InvalidInput(f"products not offered in this cycle: {outside}", code="product_not_offered",
                               details={"product_ids": outside})
    lines = [{"product_id": line.product_id, "quantity": format(line.quantity, "f")} for line in data.lines]
    basket_id = (await session.execute(insert(baskets).values(
        cycle_id=cycle_id, name=data.name, description=data.description, lines=lines, active=True,
        created_at=utcnow()).returning(baskets.c.id))).scalar_one()
    row = (await session.execute(select(baskets).where(baskets.c.id == basket_id))).one()
    return basket_out(row)


async def list_baskets(*, session: AsyncSession, cycle_id: int) -> list[dict]:
    await load_cycle(session=session, cycle_id=cycle_id)
    rows = await session.execute(select(baskets).where(baskets.c.cycle_id == cycle_id, baskets.c.active)
                                 .order_by(baskets.c.id))
    return [basket_out(r) for r in rows]


async def expand_baskets(*, session: AsyncSession, cycle_id: int, picks) -> list[dict]:
    """Agrobolsas chosen in an order, as lines: [{product_id, quantity, tolerance, basket_id}]."""
    if not picks:
        return []
    ids = [p.basket_id for p in picks]
    rows = {r.id: r for r in await session.execute(
        select(baskets).where(baskets.c.id.in_(ids), baskets.c.cycle_id == cycle_id, baskets.c.active))}
    lines = []
    for pick in picks:
        basket = rows.get(pick.basket_id)
        if basket is None:
            raise InvalidInput(f"agrobolsa {pick.basket_id} is not offered in cycle {cycle_id}",
                               code="basket_not_found", details={"basket_id": pick.basket_id})
        for line in basket.lines:
            lines.append({"product_id": int(line["product_id"]),
                          "quantity": Decimal(line["quantity"]) * pick.count,
                          "tolerance": Decimal(0), "basket_id": basket.id})
    return lines
