"""Token verification and role checks, the same in every service.

The gateway signs access tokens with its Ed25519 private key; every service verifies them itself
with the public key and never trusts a bare header. Internal (service-to-service) endpoints require
the shared service secret in `X-Service-Key`, which the gateway strips from public requests.
"""

import hmac
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request

from services.common.errors import Forbidden, Unauthorized
from services.common.revocations import RevocationList

SERVICE_KEY_HEADER = "X-Service-Key"


class Role(StrEnum):
    consumer = "consumer"
    producer = "producer"
    organization = "organization"
    coordinator = "coordinator"
    municipality = "municipality"
    financier = "financier"
    admin = "admin"


@dataclass(frozen=True)
class Principal:
    """Who is calling, as the verified token says."""

    account_id: int
    role: Role
    name: str = ""
    producer_id: int | None = None
    organization_id: int | None = None
    municipality_code: str | None = None
    financier_id: int | None = None
    claims: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.admin

    @property
    def is_unverified_organization(self) -> bool:
        """A self-registered organization account no admin or coordinator has linked to a registry
        organization yet: it holds no organization powers anywhere (only its own account profile)."""
        return self.role == Role.organization and self.organization_id is None

    def has_role(self, *roles: Role | str) -> bool:
        if self.is_unverified_organization:
            return False
        return self.role in roles or self.role == Role.admin


# Verified tokens kept per process (about 1.4 KB each), each for at most a minute: expired ones are
# dropped when the limit is reached, so memory follows the tokens seen in the last minutes.
VERIFIED_TOKENS_KEPT = 10_000


class TokenVerifier:
    """Verifies access tokens with the gateway's public key; caches verified tokens briefly.

    With `revocations` (services/common/revocations.py), a token of an account revoked after the
    token was issued is refused, cached or not."""

    def __init__(self, public_key_pem: bytes | str, *, issuer: str = "mercado-corto", leeway: int = 5,
                 revocations: RevocationList | None = None):
        self.public_key = public_key_pem
        self.issuer = issuer
        self.leeway = leeway
        self.revocations = revocations
        self._cache: dict[str, tuple[float, Principal]] = {}

    def with_revocations(self, revocations: RevocationList) -> "TokenVerifier":
        """The same key and issuer, checking this revocation list."""
        return TokenVerifier(self.public_key, issuer=self.issuer, leeway=self.leeway, revocations=revocations)

    @classmethod
    def from_file(cls, path: str | Path, **kw) -> "TokenVerifier":
        p = Path(path)
        if not p.exists():
            raise RuntimeError(f"token public key not found at {p}; start the gateway once (make run) "
                               "or set MC_JWT_PUBLIC_KEY_PATH")
        return cls(p.read_bytes(), **kw)

    def verify(self, token: str) -> Principal:
        now = time.time()
        hit = self._cache.get(token)
        if hit and hit[0] > now:
            return self._not_revoked(hit[1])
        try:
            claims = jwt.decode(token, self.public_key, algorithms=["EdDSA"], issuer=self.issuer,
                                leeway=self.leeway, options={"require": ["exp", "sub", "role"]})
        except jwt.ExpiredSignatureError:
            raise Unauthorized("token expired; log in again or refresh it", code="token_expired") from None
        except jwt.PyJWTError:
            raise Unauthorized("token is not valid", code="invalid_token") from None
        if claims.get("typ") != "access":
            raise Unauthorized("not an access token", code="invalid_token")
        principal = principal_from_claims(claims)
        if len(self._cache) >= VERIFIED_TOKENS_KEPT:
            self._forget_expired(now)
        self._cache[token] = (min(float(claims["exp"]), now + 60), principal)
        return self._not_revoked(principal)

    def _forget_expired(self, now: float) -> None:
        """Drop the entries past their minute; all of them when most are still fresh (a burst of new
        tokens), so the next sweep is at least half the limit away and a sweep stays rare."""
        self._cache = {token: hit for token, hit in self._cache.items() if hit[0] > now}
        if len(self._cache) > VERIFIED_TOKENS_KEPT // 2:
            self._cache.clear()

    def _not_revoked(self, principal: Principal) -> Principal:
        if self.revocations is not None and self.revocations.is_revoked(principal.account_id,
                                                                        principal.claims.get("iat")):
            raise Unauthorized("this session was ended (account disabled or changed); log in again",
                               code="token_revoked")
        return principal


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    try:
        role = Role(claims["role"])
        account_id = int(claims["sub"])
    except (ValueError, KeyError):
        raise Unauthorized("token is not valid", code="invalid_token") from None
    return Principal(
        account_id=account_id, role=role, name=claims.get("name", ""),
        producer_id=claims.get("producer_id"), organization_id=claims.get("organization_id"),
        municipality_code=claims.get("municipality_code"), financier_id=claims.get("financier_id"),
        claims=claims,
    )


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return None
    return token.strip()


# The dependencies below are `async def` although they do not wait for anything: FastAPI runs a plain
# `def` dependency in its thread pool, a thread hop on every request for a few microseconds of work.


def principal_of(request: Request) -> Principal | None:
    """The verified principal of the request's bearer token (None without one)."""
    token = bearer_token(request)
    if token is None:
        return None
    return request.app.state.token_verifier.verify(token)


async def optional_principal(request: Request) -> Principal | None:
    return principal_of(request)


async def current_principal(request: Request) -> Principal:
    principal = principal_of(request)
    if principal is None:
        raise Unauthorized("log in first: send Authorization: Bearer <token>", code="not_authenticated",
                           headers={"WWW-Authenticate": "Bearer"})
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]


def require_roles(*roles: Role):
    """Dependency: the caller is logged in with one of `roles` (admins always pass)."""

    async def _check(principal: CurrentPrincipal) -> Principal:
        if not principal.has_role(*roles):
            allowed = ", ".join(r.value for r in roles)
            raise Forbidden(f"this needs one of the roles: {allowed}", code="role_required")
        return principal

    return _check


async def require_service(request: Request) -> str:
    """Dependency for internal endpoints: the caller holds the shared service secret."""
    return check_service(request)


def check_service(request: Request) -> str:
    """The calling service's name, when it holds the shared service secret (403 otherwise)."""
    given = request.headers.get(SERVICE_KEY_HEADER, "")
    expected = request.app.state.service_secret
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise Forbidden("internal endpoint: service credential required", code="service_only")
    return request.headers.get("X-Service-Name", "service")


ServiceCaller = Annotated[str, Depends(require_service)]


def require_metrics_reader(request: Request) -> None:
    """A service's `/metrics`: the service secret (`X-Service-Key`) or the metrics token
    (`Authorization: Bearer $MC_METRICS_TOKEN`, for a Prometheus scraper)."""
    if request.headers.get(SERVICE_KEY_HEADER):
        check_service(request)
        return
    token = bearer_token(request)
    expected = getattr(request.app.state.settings, "metrics_token", "")
    if token is None:
        raise Unauthorized("metrics need X-Service-Key or Authorization: Bearer <metrics token>",
                           code="not_authenticated", headers={"WWW-Authenticate": "Bearer"})
    if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
        raise Forbidden("metrics need the service secret or the metrics token", code="metrics_only")


async def monitoring_caller(request: Request) -> Principal | None:
    """Dependency for monitoring figures: the gateway (service key; gives None) or a municipality,
    coordinator or admin token (gives the principal, whose territory the endpoint then applies)."""
    if request.headers.get(SERVICE_KEY_HEADER):
        check_service(request)
        return None
    principal = principal_of(request)
    if principal is None:
        raise Unauthorized("log in first: send Authorization: Bearer <token>", code="not_authenticated")
    if not principal.has_role(Role.municipality, Role.coordinator):
        raise Forbidden("this needs one of the roles: municipality, coordinator", code="role_required")
    return principal


MonitoringCaller = Annotated[Principal | None, Depends(monitoring_caller)]
