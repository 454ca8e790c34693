"""The ledger: accounts, their entries, manual entries and reversals (admins)."""

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy import and_, or_, select

from services.common.app import Session
from services.common.auth import (
    CurrentPrincipal,
    Role,
)
from services.common.errors import InvalidInput
from services.common.money import to_centavos
from services.common.pagination import Page, PageParams, make_page, page_params
from services.payments import access, ledger
from services.payments.models import (
    accounts,
    entries,
    funds,
    postings,
)
from services.payments.routes.deps import Admin
from services.payments.routes.outputs import account_out, bs, entry_out
from services.payments.schemas import (
    AccountEntryOut,
    AccountOut,
    EntryCreate,
    EntryOut,
    Id,
    ReversalCreate,
)

router = APIRouter()


@router.get("/accounts", response_model=list[AccountOut], tags=["ledger"], summary="My accounts")
async def my_accounts(session: Session, principal: CurrentPrincipal):
    k = ledger.AccountKind
    conditions = []
    if principal.role == Role.consumer:
        conditions.append(and_(accounts.c.kind == k.consumer, accounts.c.owner_id == principal.account_id))
    if principal.producer_id is not None:
        conditions.append(and_(accounts.c.kind.in_(access.PRODUCER_KINDS),
                               accounts.c.owner_id == principal.producer_id))
    if principal.role == Role.organization and principal.organization_id is not None:
        conditions.append(and_(accounts.c.kind == k.organization, accounts.c.owner_id == principal.organization_id))
    if principal.financier_id is not None:
        conditions.append(and_(accounts.c.kind.in_((k.financier_capital, k.financier_fees)),
                               accounts.c.owner_id == principal.financier_id))
        conditions.append(accounts.c.id.in_(select(funds.c.account_id)
                                            .where(funds.c.financier_id == principal.financier_id)))
    if principal.is_admin:
        conditions = [accounts.c.id.is_not(None)]
    if not conditions:
        return []
    rows = (await session.execute(select(accounts).where(or_(*conditions)).order_by(accounts.c.id).limit(500))).all()
    return [account_out(r) for r in rows]


@router.get("/accounts/{account_id}", response_model=AccountOut, tags=["ledger"])
async def get_account(account_id: Id, session: Session, principal: CurrentPrincipal):
    row = await ledger.account_by_id(session=session, account_id=account_id)
    await access.require_account_access(session, principal, row)
    return account_out(row)


@router.get("/accounts/{account_id}/entries", response_model=Page[AccountEntryOut], tags=["ledger"])
async def account_entries(account_id: Id, session: Session, principal: CurrentPrincipal,
                          page: Annotated[PageParams, Depends(page_params)]):
    row = await ledger.account_by_id(session=session, account_id=account_id)
    await access.require_account_access(session, principal, row)
    query = (select(entries.c.id, entries.c.client_id, entries.c.kind, entries.c.description, entries.c.created_at,
                    postings.c.id.label("posting_id"), postings.c.amount)
             .join(postings, postings.c.entry_id == entries.c.id).where(postings.c.account_id == account_id))
    if page.cursor:
        try:
            query = query.where(postings.c.id < int(page.cursor[0]))
        except (TypeError, ValueError, IndexError):
            raise InvalidInput("cursor is not valid", code="invalid_cursor") from None
    rows = (await session.execute(query.order_by(postings.c.id.desc()).limit(page.limit + 1))).all()
    rows, cursor = make_page(rows, page.limit, lambda r: [r.posting_id])
    sign = 1 if row.normal_side == "debit" else -1
    return Page(items=[AccountEntryOut(entry_id=r.id, client_id=r.client_id, kind=r.kind, description=r.description,
                                       created_at=r.created_at, amount=bs(sign * r.amount)) for r in rows],
                next_cursor=cursor)


@router.get("/entries/{entry_id}", response_model=EntryOut, tags=["ledger"])
async def get_entry(entry_id: Id, session: Session, _: Admin):
    return await entry_out(session, entry_id)


@router.post("/entries", response_model=EntryOut, status_code=201, tags=["ledger"],
             summary="Post a manual balanced entry (a repeated client_id returns the first entry)")
async def create_entry(body: EntryCreate, session: Session, _: Admin):
    for p in body.postings:
        await ledger.account_by_id(session=session, account_id=p.account_id)
    posted = await ledger.post_entry(
        session=session, client_id=f"manual:{body.client_id}", kind="manual", description=body.description,
        lines=[ledger.Posting(p.account_id, to_centavos(p.amount)) for p in body.postings])
    return await entry_out(session, posted.id)


@router.post("/entries/{entry_id}/reverse", response_model=EntryOut, status_code=201, tags=["ledger"])
async def reverse(entry_id: Id, body: ReversalCreate, session: Session, _: Admin):
    posted = await ledger.reverse_entry(session=session, entry_id=entry_id, client_id=f"reversal:{body.client_id}",
                                        reason=body.reason)
    return await entry_out(session, posted.id)
