"""Accounts: registration, login by phone number or e-mail, token pairs and refresh-token rotation.

Plain functions with keyword-only arguments; routers in `gateway.api.auth` only translate HTTP.
Passwords are hashed with Argon2id (argon2-cffi) in a worker thread so hashing never blocks the
event loop, and at most `concurrency` hashes run at once (each holds `memory_kib`, 64 MiB by
default): a burst of logins waits its turn instead of exhausting memory, and the parameters stay
strong. Failed logins are throttled per account and address (`gateway.login_throttle`).
A refresh token can be exchanged once: replaying a spent one revokes every outstanding refresh
token of the account (the pair may have been stolen). Logging out revokes the refresh token and
its family (every token rotated from the same login); deactivating an account revokes its refresh
tokens and, through `tokens_revoked_at`, its access tokens (services/common/revocations.py).
"""

import asyncio
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.login_throttle import LoginThrottle
from gateway.models import Account, RefreshToken
from gateway.tokens import TokenIssuer
from services.common.auth import Principal, Role
from services.common.db import Database
from services.common.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from services.common.tables import utcnow

SELF_SERVICE_ROLES = frozenset({Role.consumer, Role.producer, Role.organization})
LINK_FIELDS = ("producer_id", "organization_id", "municipality_code", "financier_id")
# roles whose every permission is scoped by a link: an account without it would see nothing
REQUIRED_LINK = {Role.municipality: "municipality_code", Role.financier: "financier_id"}

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_BOLIVIA = "591"


def normalize_phone(raw: str) -> str:
    """A phone number in E.164 (`+59171234567`).

    Bolivian numbers may come with or without `+591`/`00591`, with spaces, dashes, dots or
    parentheses: `71234567`, `+591 7123-4567`, `(591) 2 2412345`. Their national part has 8 digits
    (mobiles start with 6 or 7, land lines with 2, 3 or 4). Other countries need their `+` prefix.
    """
    text = raw.strip()
    international = text.startswith("+") or text.startswith("00")
    digits = re.sub(r"[\s\-().]", "", text).lstrip("+")
    if not digits.isdigit():
        raise ValueError("a phone number may only contain digits, spaces, dashes, dots, parentheses and a leading +")
    if digits.startswith("00"):
        digits = digits[2:]
    if not international and len(digits) == 11 and digits.startswith(_BOLIVIA):
        international = True  # "591 71234567" written without the +
    if not international:
        digits = _BOLIVIA + digits
    if digits.startswith(_BOLIVIA):
        national = digits[len(_BOLIVIA):]
        if len(national) != 8 or national[0] not in "234567":
            raise ValueError("a Bolivian number has 8 digits after +591 (mobiles start with 6 or 7, "
                             "land lines with 2, 3 or 4), e.g. +591 71234567")
    elif not 8 <= len(digits) <= 15:
        raise ValueError("an international number has 8 to 15 digits after the +")
    return "+" + digits


def normalize_email(raw: str) -> str:
    email = raw.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise ValueError("not an e-mail address; expected something like nombre@ejemplo.bo")
    return email


def login_kind(login: str) -> tuple[str, str]:
    """`("email", value)` or `("phone", value)`, normalised, for whatever the person typed."""
    if "@" in login:
        return "email", normalize_email(login)
    return "phone", normalize_phone(login)


class BoundedPasswordHasher(PasswordHasher):
    """An Argon2id hasher that lets at most `concurrency` hashes of this process run at once."""

    def __init__(self, *, concurrency: int, **params):
        super().__init__(**params)
        self.slots = asyncio.Semaphore(max(1, concurrency))


def make_password_hasher(*, time_cost: int, memory_kib: int, parallelism: int,
                         concurrency: int = 4) -> BoundedPasswordHasher:
    return BoundedPasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism,
                                 concurrency=concurrency)


async def _in_a_slot(hasher: PasswordHasher, work):
    slots = getattr(hasher, "slots", None)
    if slots is None:
        return await asyncio.to_thread(work)
    async with slots:
        return await asyncio.to_thread(work)


async def hash_password(*, hasher: PasswordHasher, password: str) -> str:
    return await _in_a_slot(hasher, lambda: hasher.hash(password))


async def password_matches(*, hasher: PasswordHasher, password_hash: str, password: str) -> bool:
    def _verify() -> bool:
        try:
            return hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    return await _in_a_slot(hasher, _verify)


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "bearer"


async def find_account(*, session: AsyncSession, phone: str | None = None, email: str | None = None) -> Account | None:
    if phone:
        found = (await session.execute(select(Account).where(Account.phone == phone))).scalar_one_or_none()
        if found:
            return found
    if email:
        return (await session.execute(select(Account).where(Account.email == email))).scalar_one_or_none()
    return None


async def get_account(*, session: AsyncSession, account_id: int) -> Account:
    account = await session.get(Account, account_id)
    if account is None:
        raise NotFound(f"there is no account {account_id}", code="account_not_found")
    return account


async def search_accounts(*, session: AsyncSession, text: str = "", role: Role | None = None,
                          unverified: bool = False, limit: int = 50, after: int | None = None) -> list[Account]:
    """Accounts for an administrator, oldest first: by a part of the name, e-mail or phone (any case),
    by role, or only organization accounts still waiting to be verified; `after` an id to page on."""
    query = select(Account).order_by(Account.id).limit(limit)
    words = text.strip().lower()
    if words:
        pattern = f"%{words.replace('%', '').replace('_', '')}%"
        query = query.where(or_(func.lower(Account.name).like(pattern), func.lower(Account.email).like(pattern),
                                Account.phone.like(pattern)))
    if role is not None:
        query = query.where(Account.role == role.value)
    if unverified:
        query = query.where(Account.role == Role.organization.value, Account.organization_id.is_(None))
    if after is not None:
        query = query.where(Account.id > after)
    return list((await session.execute(query)).scalars())


def _check_may_create(*, role: Role, links: dict[str, Any], actor: Principal | None) -> None:
    is_admin = actor is not None and actor.is_admin
    if role not in SELF_SERVICE_ROLES and not is_admin:
        allowed = ", ".join(sorted(r.value for r in SELF_SERVICE_ROLES))
        raise Forbidden(f"a {role.value} account is created by an administrator; anyone may register as {allowed}",
                        code="role_requires_admin")
    if links and not is_admin:
        # linking to a producer or organization grants its permissions: only an admin may do that
        raise Forbidden("links to a producer, organization, municipality or financier are set by an "
                        "administrator; register without them", code="links_require_admin",
                        details={"fields": sorted(links)})
    needed = REQUIRED_LINK.get(role)
    if needed and not links.get(needed):
        raise InvalidInput(f"a {role.value} account needs {needed}", code="link_required",
                           details={"field": needed})


async def register_account(*, session: AsyncSession, hasher: PasswordHasher, name: str, password: str,
                           role: Role, phone: str | None = None, email: str | None = None,
                           links: dict[str, Any] | None = None, actor: Principal | None = None) -> Account:
    """Create an account. Phone and e-mail must already be normalised; either may be missing, not both."""
    links = {k: v for k, v in (links or {}).items() if k in LINK_FIELDS and v is not None}
    if not phone and not email:
        raise InvalidInput("give a phone number or an e-mail address to log in with", code="login_required")
    _check_may_create(role=role, links=links, actor=actor)
    await _refuse_duplicates(session=session, phone=phone, email=email)
    account = Account(phone=phone, email=email, name=name, role=role.value,
                      password_hash=await hash_password(hasher=hasher, password=password), **links)
    session.add(account)
    try:
        await session.flush()
    except IntegrityError:  # a concurrent registration won the race
        raise Conflict("an account with this phone number or e-mail already exists; log in instead",
                       code="account_exists") from None
    return account


async def _refuse_duplicates(*, session: AsyncSession, phone: str | None, email: str | None) -> None:
    if phone and await find_account(session=session, phone=phone):
        raise Conflict("an account with this phone number already exists; log in instead",
                       code="account_exists", details={"field": "phone"})
    if email and await find_account(session=session, email=email):
        raise Conflict("an account with this e-mail already exists; log in instead",
                       code="account_exists", details={"field": "email"})


_dummy_hash: dict[int, str] = {}


async def authenticate(*, session: AsyncSession, hasher: PasswordHasher, login: str, password: str,
                       throttle: LoginThrottle | None = None, address: str = "unknown") -> Account:
    """The account for these credentials. Unknown login and wrong password fail alike (and as slowly).
    With a `throttle`, an address that keeps failing on an account must wait longer and longer;
    the account's owner at another address is not affected."""
    refused = Unauthorized("wrong phone number, e-mail or password", code="invalid_credentials")
    try:
        kind, value = login_kind(login)
    except ValueError as exc:
        raise InvalidInput(str(exc), code="invalid_login", details={"field": "login"}) from None
    account = await find_account(session=session, **{kind: value})
    # one identity per account, whichever of its phone or e-mail was typed
    identity = f"account:{account.id}" if account is not None else f"{kind}:{value}"
    if throttle is not None:
        await throttle.check(identity=identity, address=address)
    if account is None:
        key = id(hasher)
        if key not in _dummy_hash:
            _dummy_hash[key] = await hash_password(hasher=hasher, password="not a real password")
        await password_matches(hasher=hasher, password_hash=_dummy_hash[key], password=password)
        matches = False
    else:
        matches = await password_matches(hasher=hasher, password_hash=account.password_hash, password=password)
    if not matches:
        if throttle is not None:
            await throttle.failed(identity=identity, address=address)
        raise refused
    if throttle is not None:
        await throttle.succeeded(identity=identity, address=address)
    if not account.is_active:
        raise Forbidden("this account is disabled; ask an administrator", code="account_disabled")
    if hasher.check_needs_rehash(account.password_hash):
        account.password_hash = await hash_password(hasher=hasher, password=password)
    return account


async def issue_tokens(*, session: AsyncSession, issuer: TokenIssuer, account: Account,
                       family: str | None = None) -> TokenPair:
    """A fresh access token carrying role and links, and a recorded one-use refresh token (of
    `family` when rotated, else the start of a new family)."""
    links = {field: getattr(account, field) for field in LINK_FIELDS}
    access = issuer.access_token(account_id=account.id, role=account.role, name=account.name, **links)
    refresh, claims = issuer.refresh_token_with_claims(account_id=account.id)
    # the account's expired refresh tokens are of no use any more, not even to spot a replay
    await session.execute(delete(RefreshToken).where(RefreshToken.account_id == account.id,
                                                     RefreshToken.expires_at < utcnow()))
    session.add(RefreshToken(jti=claims["jti"], account_id=account.id, family=family or claims["jti"],
                             expires_at=datetime.fromtimestamp(claims["exp"], UTC)))
    await session.flush()
    return TokenPair(access_token=access, refresh_token=refresh, expires_in=issuer.access_ttl)


async def rotate_refresh_token(*, db: Database, issuer: TokenIssuer, public_key: bytes, token: str,
                               reuse_grace_seconds: float = 10,
                               notify_channels: frozenset[str] = frozenset()) -> TokenPair:
    """Exchange a refresh token for a new pair, once.

    A spent token coming back is taken as stolen: every outstanding refresh token of the account is
    revoked. Except within `reuse_grace_seconds` of its use, when it is most likely the same person's
    second tab racing the first: that request is refused and nothing else happens. The owner is told
    (a security notification, on `notify_channels` too, which cannot be muted).
    Runs its own units of work: the revocation must be committed even though the request fails.
    """
    invalid = Unauthorized("refresh token is not valid; log in again", code="invalid_refresh_token")
    try:
        claims = issuer.decode_refresh(token, public_key)
        jti, account_id = str(claims["jti"]), int(claims["sub"])
    except jwt.ExpiredSignatureError:
        raise Unauthorized("refresh token expired; log in again", code="refresh_token_expired") from None
    except (jwt.PyJWTError, KeyError, ValueError):
        raise invalid from None
    now = utcnow()
    replayed = False
    async with db.session() as session:
        spent = await session.execute(
            update(RefreshToken)
            .where(RefreshToken.jti == jti, RefreshToken.account_id == account_id,
                   RefreshToken.used_at.is_(None), RefreshToken.revoked_at.is_(None))
            .values(used_at=now))
        if spent.rowcount != 1:
            known = await session.get(RefreshToken, jti)
            if known is None:
                raise invalid
            if known.used_at is None and known.revoked_at is not None:
                raise Unauthorized("this session was ended (logged out or account disabled); log in again",
                                   code="refresh_token_revoked")
            used_at = known.used_at
            if used_at is not None and known.revoked_at is None:
                used_at = used_at if used_at.tzinfo else used_at.replace(tzinfo=UTC)
                if (now - used_at).total_seconds() < reuse_grace_seconds:
                    raise Unauthorized("this refresh token was just used by another request; use the "
                                       "new pair it received", code="refresh_token_used")
            replayed = True
            await session.execute(
                update(RefreshToken)
                .where(RefreshToken.account_id == account_id, RefreshToken.used_at.is_(None),
                       RefreshToken.revoked_at.is_(None))
                .values(revoked_at=now))
            await _tell_sessions_revoked(session=session, account_id=account_id, jti=jti, channels=notify_channels)
        else:
            account = await session.get(Account, account_id)
            if account is None or not account.is_active:
                raise invalid
            family = (await session.get(RefreshToken, jti)).family or jti
            pair = await issue_tokens(session=session, issuer=issuer, account=account, family=family)
    if replayed:
        raise Unauthorized("this refresh token was already used; every session of the account was "
                           "signed out, log in again", code="refresh_token_reused")
    return pair


async def _tell_sessions_revoked(*, session: AsyncSession, account_id: int, jti: str,
                                 channels: frozenset[str]) -> None:
    from gateway.notifications.messages import session_revoked
    from gateway.notifications.record import Outgoing, record

    account = await session.get(Account, account_id)
    if account is not None:  # once per replayed token, however often it comes back
        await record(session=session, event_id=jti[:36], channels_configured=channels,
                     message=Outgoing(account, "session_revoked", session_revoked()))


async def logout(*, db: Database, issuer: TokenIssuer, public_key: bytes, token: str) -> None:
    """End the session this refresh token belongs to: it and every token of its family are revoked.
    Holding the token is the authority to end it; an expired one has nothing left to end."""
    try:
        claims = issuer.decode_refresh(token, public_key)
        jti, account_id = str(claims["jti"]), int(claims["sub"])
    except jwt.ExpiredSignatureError:
        return
    except (jwt.PyJWTError, KeyError, ValueError):
        raise Unauthorized("refresh token is not valid", code="invalid_refresh_token") from None
    async with db.session() as session:
        known = await session.get(RefreshToken, jti)
        if known is None or known.account_id != account_id:
            return
        family = known.family or known.jti
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.account_id == account_id, RefreshToken.revoked_at.is_(None),
                   (RefreshToken.family == family) | (RefreshToken.jti == known.jti))
            .values(revoked_at=utcnow()))


async def revoke_sessions(*, session: AsyncSession, account: Account, refresh_tokens: bool) -> datetime:
    """Every access token of the account issued until now stops working (within a minute
    everywhere); with `refresh_tokens`, its refresh tokens are revoked too (no new pair)."""
    now = utcnow()
    account.tokens_revoked_at = now
    if refresh_tokens:
        await session.execute(update(RefreshToken)
                              .where(RefreshToken.account_id == account.id, RefreshToken.revoked_at.is_(None))
                              .values(revoked_at=now))
    return now


async def recent_revocations(*, session: AsyncSession, since: datetime) -> dict[int, float]:
    """account id -> epoch seconds before which its access tokens are refused, for revocations made
    after `since` (older ones concern only tokens that have expired anyway)."""
    rows = await session.execute(select(Account.id, Account.tokens_revoked_at)
                                 .where(Account.tokens_revoked_at > since))
    return {account_id: (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp() for account_id, at in rows}


TOKEN_FIELDS = ("role", *LINK_FIELDS)  # what access tokens carry: changing it outdates them


async def verify_organization_account(*, session: AsyncSession, account_id: int, organization_id: int,
                                      actor: Principal) -> Account:
    """An admin or a coordinator links an organization account to a registry organization.

    Until then the account is unverified: its tokens carry no organization and the services grant it
    no organization powers (`Principal.is_unverified_organization`). Anyone may register as an
    organization; only this link, made by staff who checked the papers, makes it speak for one.
    The caller has already checked that `organization_id` exists in the catalog.
    """
    if not actor.has_role(Role.coordinator):
        raise Forbidden("only an administrator or a coordinator verifies organization accounts",
                        code="role_required")
    account = await get_account(session=session, account_id=account_id)
    if account.role != Role.organization.value:
        raise InvalidInput(f"account {account_id} is a {account.role} account; only organization accounts "
                           "are verified", code="not_an_organization_account")
    if account.organization_id is not None and account.organization_id != organization_id \
            and not actor.is_admin:
        raise Conflict(f"account {account_id} already speaks for organization {account.organization_id}; "
                       "an administrator can move it", code="already_verified",
                       details={"organization_id": account.organization_id})
    account.organization_id = organization_id
    account.updated_at = utcnow()
    await session.flush()
    return account


async def update_own_profile(*, session: AsyncSession, principal: Principal, name: str) -> Account:
    """What every account may change about itself (the only change an unverified organization may make)."""
    account = await get_account(session=session, account_id=principal.account_id)
    account.name = name
    account.updated_at = utcnow()
    await session.flush()
    return account


async def update_account(*, session: AsyncSession, account_id: int, changes: dict[str, Any]) -> Account:
    """An administrator changes role, name, links or the active flag. Deactivating ends every
    session of the account; changing its role or links outdates its access tokens (a refresh gives
    new ones)."""
    account = await get_account(session=session, account_id=account_id)
    before = {f: getattr(account, f) for f in (*TOKEN_FIELDS, "is_active")}
    for field, value in changes.items():
        setattr(account, field, value.value if isinstance(value, Role) else value)
    role = Role(account.role)
    needed = REQUIRED_LINK.get(role)
    if needed and getattr(account, needed) is None:
        raise InvalidInput(f"a {role.value} account needs {needed}", code="link_required",
                           details={"field": needed})
    if before["is_active"] and not account.is_active:
        await revoke_sessions(session=session, account=account, refresh_tokens=True)
    elif any(before[f] != getattr(account, f) for f in TOKEN_FIELDS):
        await revoke_sessions(session=session, account=account, refresh_tokens=False)
    account.updated_at = utcnow()
    await session.flush()
    return account
