"""`/api/auth/...`: register, login, refresh, me, and account administration."""

from dataclasses import asdict
from datetime import UTC, timedelta
from typing import Annotated

from argon2 import PasswordHasher
from fastapi import APIRouter, Depends, Query, Request, Response

from gateway import accounts, enrolment
from gateway.monitoring.sources import clients
from gateway.schemas import (
    AccountPublic,
    AccountUpdate,
    LoginRequest,
    OrganizationVerification,
    ProducerEnrolment,
    ProfileUpdate,
    RefreshRequest,
    RegisterRequest,
    TokenResponse,
)
from gateway.tokens import TokenIssuer
from services.common.app import Session
from services.common.auth import (
    CurrentPrincipal,
    OptionalPrincipal,
    Principal,
    Role,
    ServiceCaller,
    require_roles,
)
from services.common.tables import utcnow

router = APIRouter(prefix="/api/auth", tags=["auth"])


async def _hasher(request: Request) -> PasswordHasher:
    return request.app.state.password_hasher


async def _issuer(request: Request) -> TokenIssuer:
    return request.app.state.token_issuer


Hasher = Annotated[PasswordHasher, Depends(_hasher)]
Issuer = Annotated[TokenIssuer, Depends(_issuer)]
Admin = Annotated[Principal, Depends(require_roles(Role.admin))]


def _public(account) -> AccountPublic:
    return AccountPublic.model_validate(account, from_attributes=True)


@router.post("/register", status_code=201, response_model=AccountPublic,
             summary="Create an account (consumer, producer, organization; other roles by an admin)")
async def register(body: RegisterRequest, session: Session, hasher: Hasher, actor: OptionalPrincipal):
    account = await accounts.register_account(
        session=session, hasher=hasher, name=body.name, password=body.password, role=body.role,
        phone=body.phone, email=body.email, links=body.links(), actor=actor)
    return _public(account)


@router.post("/login", response_model=TokenResponse, summary="Log in by phone number or e-mail")
async def login(body: LoginRequest, request: Request, session: Session, hasher: Hasher, issuer: Issuer):
    account = await accounts.authenticate(session=session, hasher=hasher, login=body.identifier,
                                          password=body.password, throttle=request.app.state.login_throttle,
                                          address=request.client.host if request.client else "unknown")
    return TokenResponse(**asdict(await accounts.issue_tokens(session=session, issuer=issuer, account=account)))


@router.post("/refresh", response_model=TokenResponse,
             summary="Exchange a refresh token for a new pair (each refresh token works once)")
async def refresh(body: RefreshRequest, request: Request, issuer: Issuer):
    pair = await accounts.rotate_refresh_token(db=request.app.state.db, issuer=issuer,
                                               public_key=request.app.state.token_verifier.public_key,
                                               token=body.refresh_token,
                                               reuse_grace_seconds=request.app.state.settings.refresh_reuse_grace_seconds,
                                               notify_channels=request.app.state.notification_channels.configured)
    return TokenResponse(**asdict(pair))


@router.post("/logout", status_code=204,
             summary="End this session: the refresh token and every token rotated from the same login stop working")
async def logout(body: RefreshRequest, request: Request, issuer: Issuer):
    await accounts.logout(db=request.app.state.db, issuer=issuer,
                          public_key=request.app.state.token_verifier.public_key, token=body.refresh_token)
    return Response(status_code=204)


@router.get("/me", response_model=AccountPublic, summary="The logged-in account")
async def me(principal: CurrentPrincipal, session: Session):
    return _public(await accounts.get_account(session=session, account_id=principal.account_id))


@router.patch("/me", response_model=AccountPublic, summary="Change your own profile (name)")
async def update_me(body: ProfileUpdate, principal: CurrentPrincipal, session: Session):
    return _public(await accounts.update_own_profile(session=session, principal=principal, name=body.name))


@router.post("/me/producer", response_model=AccountPublic, status_code=201,
             summary="A self-registered producer account gets its registry producer (once); refresh for a new token")
async def enrol_producer(body: ProducerEnrolment, request: Request, session: Session, principal: CurrentPrincipal):
    return _public(await enrolment.enrol_producer(
        session=session, principal=principal, catalog=clients(request)["catalog"], gender=body.gender,
        community=body.community, municipality_code=body.municipality_code))


@router.post("/accounts/{account_id}/verify", response_model=AccountPublic,
             summary="Link an organization account to a registry organization (admin or coordinator)")
async def verify_organization(account_id: int, body: OrganizationVerification, request: Request,
                              session: Session, actor: CurrentPrincipal):
    if actor.has_role(Role.coordinator):  # the catalog says whether the organization exists
        await clients(request)["catalog"].call("GET", f"/organizations/{body.organization_id}")
    return _public(await accounts.verify_organization_account(
        session=session, account_id=account_id, organization_id=body.organization_id, actor=actor))


@router.get("/accounts", response_model=list[AccountPublic],
            summary="Search accounts by name, e-mail or phone, role, or those waiting to be verified (admin)")
async def search_accounts(session: Session, _: Admin, q: Annotated[str, Query(max_length=100)] = "",
                          role: Role | None = None, unverified: bool = False,
                          limit: Annotated[int, Query(ge=1, le=200)] = 50,
                          after: Annotated[int | None, Query(ge=0)] = None):
    found = await accounts.search_accounts(session=session, text=q, role=role, unverified=unverified, limit=limit,
                                           after=after)
    return [_public(a) for a in found]


@router.get("/accounts/{account_id}", response_model=AccountPublic, summary="An account (admin)")
async def get_account(account_id: int, session: Session, _: Admin):
    return _public(await accounts.get_account(session=session, account_id=account_id))


@router.patch("/accounts/{account_id}", response_model=AccountPublic,
              summary="Change an account's role, links or active flag (admin)")
async def update_account(account_id: int, body: AccountUpdate, request: Request, session: Session, _: Admin):
    changes = body.model_dump(exclude_unset=True)
    account = await accounts.update_account(session=session, account_id=account_id, changes=changes)
    revocations = request.app.state.token_verifier.revocations
    if account.tokens_revoked_at is not None and revocations is not None:  # refused here at once
        at = account.tokens_revoked_at
        revocations.revoke(account.id, (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp())
    return _public(account)


internal = APIRouter(prefix="/internal", tags=["internal"], include_in_schema=False)


@internal.get("/token-revocations")
async def token_revocations(request: Request, session: Session, _: ServiceCaller):
    """For the services' `RevocationList`: accounts whose access tokens issued before `before`
    (epoch seconds) are refused. Older revocations concern only expired tokens and are left out."""
    window = request.app.state.token_issuer.access_ttl + 300
    since = utcnow() - timedelta(seconds=window)
    revoked = await accounts.recent_revocations(session=session, since=since)
    return {"revoked": [{"account_id": a, "before": before} for a, before in revoked.items()]}
