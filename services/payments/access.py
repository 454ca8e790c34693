"""Who may see or move what in payments; one rule per resource (the table is in
docs/architecture.md, "Ownership model"). Admins pass every check.

- cycle: belongs to the coordinator who created it in orders (from the events, an admin's
  `PUT /cycles/{id}/coordination`, or asked of orders once); she records its consumer payments and
  refunds.
- receivable: read by its producer and her organization's account; made only by a delivered (or
  corrected) receipt from delivery, never by hand; held by delivery while a receipt is corrected.
- advance: requested by the producer herself, or by her organization's account acting for her with
  her consent recorded (a member with no phone); decided and disbursed by the financier whose policy
  it falls under; read by both.
- fund and policy: the financier's own; producers see active policies only (the offers).
- organization share and statement: the organization's own.
- final settlement: made by the cycle's coordinator; payout batch: made by the cycle's coordinator
  (any payee) or an organization (its members, or itself for the members it collects for), and
  then worked (exported, marked paid or failed, retried) by whoever may make it for that cycle.
- ledger account: its owner (consumer, producer, financier, the financier of a fund).
"""

import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.common.auth import Principal, Role
from services.common.errors import Forbidden, InvalidInput, NotFound
from services.payments.ledger import AccountKind
from services.payments.models import cycles, funds, orders, producer_profiles

log = logging.getLogger("mercado.payments")


# the ledger accounts a producer owns: what she is owed, what she owes on advances, what is payable to her
PRODUCER_KINDS = (AccountKind.producer, AccountKind.producer_advances, AccountKind.producer_payable)


def require_producer_access(principal: Principal, producer_id: int, *, organization_id: int | None = None) -> None:
    if principal.is_admin:
        return
    if principal.role == Role.producer and principal.producer_id == producer_id:
        return
    if (principal.role == Role.organization and organization_id is not None
            and principal.organization_id == organization_id):
        return
    raise Forbidden("a producer sees only her own accounts", code="not_your_account")


async def require_may_ask_advance(session: AsyncSession, principal: Principal, producer_id: int) -> None:
    """The producer herself, or the account of the organization she is a member of."""
    organization_id = await producer_organization(session, producer_id) \
        if principal.role == Role.organization else None
    require_producer_access(principal, producer_id, organization_id=organization_id)


def require_consent(principal: Principal, consent: str | None) -> None:
    """Her organization asking for her says how she agreed (kept with the advance)."""
    if principal.role == Role.organization and not consent:
        raise InvalidInput("an organization asks for a member's advance only with her consent: say how and "
                           "when she agreed", code="consent_required")


async def producer_organization(session: AsyncSession, producer_id: int) -> int | None:
    return (await session.execute(select(producer_profiles.c.organization_id)
                                  .where(producer_profiles.c.producer_id == producer_id))).scalar_one_or_none()


def require_financier(principal: Principal, financier_id: int) -> None:
    if principal.is_admin:
        return
    if principal.role == Role.financier and principal.financier_id == financier_id:
        return
    raise Forbidden("a financier sees only her own portfolio", code="not_your_portfolio")


def acting_financier(principal: Principal) -> int | None:
    """The financier a decision is limited to (None for admins, who act for any)."""
    if principal.is_admin:
        return None
    if principal.role != Role.financier or principal.financier_id is None:
        raise Forbidden("only financiers decide on advances", code="role_required")
    return int(principal.financier_id)


async def require_cycle_coordinator(session: AsyncSession, principal: Principal, order_id: int,
                                    *, orders_client=None) -> None:
    """Coordinators record payments only for orders of the cycles they coordinate.

    The coordinator comes from the events, from an admin (`PUT /cycles/{id}/coordination`), or is
    asked once of orders (`GET /internal/cycles/{id}/owner`, service credential) and remembered."""
    if principal.is_admin:
        return
    if principal.role != Role.coordinator:
        raise Forbidden("payments are recorded by the cycle's coordinator", code="role_required")
    cycle_id = (await session.execute(select(orders.c.cycle_id).where(orders.c.order_id == order_id))).scalar_one_or_none()
    if cycle_id is None:
        raise NotFound(f"order {order_id} is not known to payments yet", code="order_not_found")
    await require_coordinates_cycle(session, principal, cycle_id, orders_client=orders_client)


async def require_coordinates_cycle(session: AsyncSession, principal: Principal, cycle_id: int,
                                    *, orders_client=None) -> None:
    """The cycle's own coordinator (or an admin): she settles it and pays its producers."""
    if principal.is_admin:
        return
    if principal.role != Role.coordinator:
        raise Forbidden("only the cycle's coordinator does this", code="role_required")
    cycle = (await session.execute(select(cycles).where(cycles.c.cycle_id == cycle_id))).one_or_none()
    if cycle is None:
        raise NotFound(f"cycle {cycle_id} is not known to payments yet", code="cycle_not_found")
    if cycle.coordinator_account_id is None and orders_client is not None:
        await _learn_coordinator(session, orders_client, cycle_id)
        cycle = (await session.execute(select(cycles).where(cycles.c.cycle_id == cycle_id))).one()
    if not coordinates(principal, cycle):
        raise Forbidden(f"you do not coordinate cycle {cycle_id}", code="not_your_cycle",
                        details={"cycle_id": cycle_id})


def require_organization(principal: Principal, organization_id: int) -> None:
    """An organization's shares and statement are its own (and admins')."""
    if principal.is_admin:
        return
    if principal.role == Role.organization and principal.organization_id == organization_id:
        return
    raise Forbidden("an organization sees and sets only its own shares and statement", code="not_your_organization")


def coordinates(principal: Principal, cycle) -> bool:
    """The cycle's own coordinator: sharing its organization or municipality is not enough."""
    return cycle.coordinator_account_id is not None and cycle.coordinator_account_id == principal.account_id


async def require_account_access(session: AsyncSession, principal: Principal, account) -> None:
    if principal.is_admin:
        return
    kind, owner = account.kind, account.owner_id
    ok = False
    if kind == AccountKind.consumer:
        ok = principal.role == Role.consumer and principal.account_id == owner
    elif kind in PRODUCER_KINDS:
        ok = principal.role == Role.producer and principal.producer_id == owner
    elif kind == AccountKind.organization:
        ok = principal.role == Role.organization and principal.organization_id == owner
    elif kind in (AccountKind.financier_capital, AccountKind.financier_fees):
        ok = principal.role == Role.financier and principal.financier_id == owner
    elif kind == AccountKind.financier_fund:
        fin = (await session.execute(select(funds.c.financier_id).where(funds.c.id == owner))).scalar_one_or_none()
        ok = principal.role == Role.financier and fin is not None and principal.financier_id == fin
    if not ok:
        raise Forbidden("this account is not yours", code="not_your_account")


async def _learn_coordinator(session: AsyncSession, orders_client, cycle_id: int) -> None:
    from sqlalchemy import update

    try:
        found = await orders_client.call("GET", f"/internal/cycles/{cycle_id}/owner")
        coordinator = int(found["coordinator_account_id"])
    except Exception:  # orders unreachable or silent: the cycle stays unassigned, the caller is refused
        log.info("could not learn the coordinator of cycle %s from orders", cycle_id)
        return
    await session.execute(update(cycles).where(cycles.c.cycle_id == cycle_id)
                          .values(coordinator_account_id=coordinator))
