"""`/api/notifications/...`: my inbox (paged), its unread count, marking read, and my choices of
channels and muted kinds. Every route acts on the logged-in account only."""

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from gateway import accounts
from gateway.notifications import inbox, preferences
from gateway.notifications.kinds import CHANNELS, KINDS, kinds_for
from services.common.app import Session
from services.common.auth import CurrentPrincipal
from services.common.pagination import Page, PageParams, page_params

router = APIRouter(prefix="/api/notifications", tags=["notifications"])
Paging = Annotated[PageParams, Depends(page_params)]
Channel = Literal["whatsapp", "sms", "email"]


async def _available(request: Request) -> frozenset[str]:
    return request.app.state.notification_channels.configured


Available = Annotated[frozenset[str], Depends(_available)]


class AttemptOut(BaseModel):
    attempted_at: datetime
    outcome: Literal["sent", "failed", "interrupted"]
    error: str | None = None


class DeliveryOut(BaseModel):
    channel: Channel
    status: Literal["pending", "sending", "sent", "failed", "skipped", "interrupted"]
    attempts: list[AttemptOut]
    next_attempt_at: datetime | None = None
    sent_at: datetime | None = None
    last_error: str | None = None


class NotificationOut(BaseModel):
    id: int
    kind: str
    title: str
    text: str
    created_at: datetime
    read: bool
    read_at: datetime | None = None
    deliveries: list[DeliveryOut] = Field(description="WhatsApp, SMS and e-mail sends, with every attempt")


class UnreadOut(BaseModel):
    unread: int


class MarkedOut(BaseModel):
    marked: int


class KindOut(BaseModel):
    kind: str
    label: str
    security: bool


class PreferencesIn(BaseModel):
    channels: list[Channel] = Field(max_length=len(CHANNELS), description="besides the inbox, which is always on")
    muted_kinds: list[str] = Field(default_factory=list, max_length=len(KINDS))


class PreferencesOut(BaseModel):
    channels: list[Channel]
    muted_kinds: list[str]
    available_channels: list[Channel] = Field(description="channels this platform can send on")
    kinds: list[KindOut]


@router.get("", response_model=Page[NotificationOut], summary="My notifications, newest first")
async def list_mine(principal: CurrentPrincipal, session: Session, page: Paging,
                    unread: Annotated[bool, Query(description="only the unread ones")] = False):
    items, cursor = await inbox.list_notifications(session=session, account_id=principal.account_id,
                                                   limit=page.limit, cursor=page.cursor, unread_only=unread)
    return Page[NotificationOut](items=items, next_cursor=cursor)


@router.get("/unread-count", response_model=UnreadOut, summary="How many of my notifications are unread")
async def unread_count(principal: CurrentPrincipal, session: Session):
    return UnreadOut(unread=await inbox.unread_count(session=session, account_id=principal.account_id))


@router.post("/read-all", response_model=MarkedOut, summary="Mark all my notifications read")
async def read_all(principal: CurrentPrincipal, session: Session):
    return MarkedOut(marked=await inbox.mark_all_read(session=session, account_id=principal.account_id))


@router.post("/{notification_id}/read", response_model=NotificationOut, summary="Mark one of my notifications read")
async def read_one(notification_id: Annotated[int, Path(ge=1, le=2**62)], principal: CurrentPrincipal,
                   session: Session):
    return await inbox.mark_read(session=session, account_id=principal.account_id, notification_id=notification_id)


def _preferences_out(channels: list[str], muted: list[str], available: frozenset[str], role: str) -> PreferencesOut:
    """`kinds`: what an account of her role can receive (a consumer is not offered to mute a financier's)."""
    return PreferencesOut(channels=channels, muted_kinds=muted,
                          available_channels=[c for c in CHANNELS if c in available],
                          kinds=[KindOut(kind=k.code, label=k.label, security=k.security) for k in kinds_for(role)])


@router.get("/preferences", response_model=PreferencesOut, summary="My channels and muted kinds")
async def get_preferences(principal: CurrentPrincipal, session: Session, available: Available):
    account = await accounts.get_account(session=session, account_id=principal.account_id)
    channels, muted = await preferences.preferences_of(session=session, account=account)
    return _preferences_out(channels, muted, available, account.role)


@router.put("/preferences", response_model=PreferencesOut, summary="Choose my channels and muted kinds")
async def put_preferences(body: PreferencesIn, principal: CurrentPrincipal, session: Session, available: Available):
    account = await accounts.get_account(session=session, account_id=principal.account_id)
    channels, muted = await preferences.save_preferences(session=session, account=account, channels=body.channels,
                                                         muted_kinds=body.muted_kinds)
    return _preferences_out(channels, muted, available, account.role)
