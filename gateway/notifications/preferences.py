"""Each account's choices: the channels it wants besides the inbox, and the kinds it muted.

Without a saved choice an account gets WhatsApp when it has a phone and e-mail when it has an
address (SMS only when chosen: it costs the most). Muting a kind stops its WhatsApp, SMS and e-mail;
it still shows under "Avisos". Security kinds cannot be muted.
"""

from sqlalchemy.ext.asyncio import AsyncSession

from gateway.models import Account
from gateway.notifications.kinds import CHANNELS, KINDS
from gateway.notifications.models import NotificationPreference
from services.common.errors import InvalidInput
from services.common.tables import utcnow


def default_channels(account: Account) -> list[str]:
    return [c for c, address in (("whatsapp", account.phone), ("email", account.email)) if address]


def address_of(account: Account, channel: str) -> str | None:
    return account.email if channel == "email" else account.phone


async def preferences_of(*, session: AsyncSession, account: Account) -> tuple[list[str], list[str]]:
    """(channels, muted kinds) of an account."""
    saved = await session.get(NotificationPreference, account.id)
    if saved is None:
        return default_channels(account), []
    return list(saved.channels), list(saved.muted_kinds)


async def save_preferences(*, session: AsyncSession, account: Account, channels: list[str],
                           muted_kinds: list[str]) -> tuple[list[str], list[str]]:
    unknown = sorted(set(channels) - set(CHANNELS))
    if unknown:
        raise InvalidInput(f"unknown channel {unknown[0]!r}; choose among {', '.join(CHANNELS)}",
                           code="unknown_channel", details={"channels": unknown})
    missing = [c for c in channels if not address_of(account, c)]
    if missing:
        what = "an e-mail address" if missing[0] == "email" else "a phone number"
        raise InvalidInput(f"the account has no {what} for {missing[0]}; add it first",
                           code="channel_without_address", details={"channel": missing[0]})
    unknown_kinds = sorted(set(muted_kinds) - set(KINDS))
    if unknown_kinds:
        raise InvalidInput(f"unknown kind of message {unknown_kinds[0]!r}", code="unknown_kind",
                           details={"kinds": unknown_kinds})
    security = sorted(k for k in muted_kinds if KINDS[k].security)
    if security:
        raise InvalidInput("security messages cannot be muted", code="security_kind_not_mutable",
                           details={"kinds": security})
    channels = [c for c in CHANNELS if c in channels]  # one order, no repeats
    muted = sorted(set(muted_kinds))
    saved = await session.get(NotificationPreference, account.id)
    if saved is None:
        session.add(NotificationPreference(account_id=account.id, channels=channels, muted_kinds=muted))
    else:
        saved.channels, saved.muted_kinds, saved.updated_at = channels, muted, utcnow()
    await session.flush()
    return channels, muted
