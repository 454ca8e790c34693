"""Accounts: registration, login by phone number or e-mail, token pairs and refresh-token rotation.

Plain functions with keyword-only arguments; routers in `gateway.api.auth` only translate HTTP.
Passwords are hashed with Argon2id (argon2-cffi) in a worker thread so hashing never blocks the
event loop. A refresh token can be exchanged once: replaying a spent one revokes every outstanding
refresh token of the account (the pair may have been stolen).
"""

import asyncio
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

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


def make_password_hasher(*, time_cost: int, memory_kib: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)


async def hash_password(*, hasher: PasswordHasher, password: str) -> str:
    return await asyncio.to_thread(hasher.hash, password)


async def password_matches(*, hasher: PasswordHasher, password_hash: str, password: str) -> bool:
    def _verify() -> bool:
        try:
            return hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(_verify)


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
                       limiter=None) -> Account:
    """The account for these credentials. Unknown login and wrong password fail alike (and as slowly).
    With a `limiter`, attempts on one login are counted whoever makes them."""
    refused = Unauthorized("wrong phone number, e-mail or password", code="invalid_credentials")
    try:
        kind, value = login_kind(login)
    except ValueError as exc:
        raise InvalidInput(str(exc), code="invalid_login", details={"field": "login"}) from None
    if limiter is not None:
        await limiter.check_login_attempts(value)
    account = await find_account(session=session, **{kind: value})
    if account is None:
        key = id(hasher)
        if key not in _dummy_hash:
            _dummy_hash[key] = await hash_password(hasher=hasher, password="not a real password")
        await password_matches(hasher=hasher, password_hash=_dummy_hash[key], password=password)
        raise refused
    if not await password_matches(hasher=hasher, password_hash=account.password_hash, password=password):
        raise refused
    if not account.is_active:
        raise Forbidden("this account is disabled; ask an administrator", code="account_disabled")
    if hasher.check_needs_rehash(account.password_hash):
        account.password_hash = await hash_password(hasher=hasher, password=password)
    return account


async def issue_tokens(*, session: AsyncSession, issuer: TokenIssuer, account: Account) -> TokenPair:
    """A fresh access token carrying role and links, and a recorded one-use refresh token."""
    links = {field: getattr(account, field) for field in LINK_FIELDS}
    access = issuer.access_token(account_id=account.id, role=account.role, name=account.name, **links)
    refresh, claims = issuer.refresh_token_with_claims(account_id=account.id)
    # the account's expired refresh tokens are of no use any more, not even to spot a replay
    await session.execute(delete(RefreshToken).where(RefreshToken.account_id == account.id,
                                                     RefreshToken.expires_at < utcnow()))
    session.add(RefreshToken(jti=claims["jti"], account_id=account.id,
                             expires_at=datetime.fromtimestamp(claims["exp"], UTC)))
    await session.flush()
    return TokenPair(access_token=access, refresh_token=refresh, expires_in=issuer.access_ttl)


async def rotate_refresh_token(*, db: Database, issuer: TokenIssuer, public_key: bytes, token: str,
                               reuse_grace_seconds: float = 10) -> TokenPair:
    """Exchange a refresh token for a new pair, once.

    A spent token coming back is taken as stolen: every outstanding refresh token of the account is
    revoked. Except within `reuse_grace_seconds` of its use, when it is most likely the same person's
    second tab racing the first: that request is refused and nothing else happens.
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
        else:
            account = await session.get(Account, account_id)
            if account is None or not account.is_active:
                raise invalid
            pair = await issue_tokens(session=session, issuer=issuer, account=account)
    if replayed:
        raise Unauthorized("this refresh token was already used; every session of the account was "
                           "signed out, log in again", code="refresh_token_reused")
    return pair


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
    """An administrator changes role, name, links or the active flag."""
    account = await get_account(session=session, account_id=account_id)
    for field, value in changes.items():
        setattr(account, field, value.value if isinstance(value, Role) else value)
    role = Role(account.role)
    needed = REQUIRED_LINK.get(role)
    if needed and getattr(account, needed) is None:
        raise InvalidInput(f"a {role.value} account needs {needed}", code="link_required",
                           details={"field": needed})
    account.updated_at = utcnow()
    await session.flush()
    return account

