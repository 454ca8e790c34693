"""Request and response shapes of the gateway's own API (`/api/auth/...`)."""

from typing import Annotated, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from gateway.accounts import normalize_email, normalize_phone
from services.common.auth import Role
from services.common.patches import PatchShape, omittable
from services.common.timestamps import UtcTimestamp

MunicipalityCode = Field(default=None, pattern=r"^\d{6}$", description="INE code, e.g. 020101 (La Paz)")


def not_blank(value: str) -> str:
    """A name as typed, trimmed; refused when nothing but spaces."""
    if not value.strip():
        raise ValueError("a name cannot be blank")
    return value.strip()


AccountName = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(not_blank)]


class AccountLinks(BaseModel):
    producer_id: int | None = Field(default=None, ge=1)
    organization_id: int | None = Field(default=None, ge=1)
    municipality_code: str | None = MunicipalityCode
    financier_id: int | None = Field(default=None, ge=1)


class RegisterRequest(AccountLinks):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"phone": "+591 71234567", "password": "una clave larga", "name": "Juana Mamani", "role": "producer"}]})

    phone: str | None = Field(default=None, description="Bolivian numbers with or without +591")
    email: str | None = None
    password: str = Field(min_length=8, max_length=128)
    name: AccountName
    role: Role = Role.consumer

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return normalize_phone(value) if value else None

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        return normalize_email(value) if value else None


    @model_validator(mode="after")
    def _login_present(self) -> Self:
        if not self.phone and not self.email:
            raise ValueError("give a phone number or an e-mail address to log in with")
        return self

    def links(self) -> dict:
        return self.model_dump(include={"producer_id", "organization_id", "municipality_code", "financier_id"},
                               exclude_none=True)


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"login": "+591 71234567", "password": "una clave larga"}, {"login": "ana@ejemplo.bo", "password": "..."}]})

    login: str | None = Field(default=None, max_length=254, description="phone number or e-mail")
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=254)
    password: str = Field(min_length=1, max_length=128)

    @model_validator(mode="after")
    def _one_login(self) -> Self:
        given = [v for v in (self.login, self.phone, self.email) if v]
        if len(given) != 1:
            raise ValueError("give exactly one of login, phone or email")
        return self

    @property
    def identifier(self) -> str:
        return self.login or self.phone or self.email or ""


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(min_length=1, max_length=4096)


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="seconds until the access token expires")
    refresh_token: str


class AccountPublic(AccountLinks):
    id: int
    phone: str | None
    email: str | None
    name: str
    role: Role
    is_active: bool
    created_at: UtcTimestamp
    verified: bool = Field(default=True, description="false for an organization account not yet linked to a "
                                                     "registry organization by an admin or a coordinator")

    @model_validator(mode="after")
    def _verified(self) -> Self:
        self.verified = not (self.role == Role.organization and self.organization_id is None)
        return self


class OrganizationVerification(BaseModel):
    """The registry organization an organization account speaks for, once staff checked its papers."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"organization_id": 12}]})

    organization_id: int = Field(ge=1)


class ProducerEnrolment(BaseModel):
    """Who a self-registered producer is: her registry record is made from this and her account."""

    model_config = ConfigDict(extra="forbid")

    gender: Literal["female", "male", "other"]
    community: Annotated[str, Field(min_length=1, max_length=120), AfterValidator(not_blank)] | None = None
    municipality_code: str = Field(pattern=r"^\d{6}$", description="INE code, e.g. 020101 (La Paz)")


class ProfileUpdate(BaseModel):
    """What an account may change about itself."""

    model_config = ConfigDict(extra="forbid")

    name: AccountName



class AccountUpdate(PatchShape, AccountLinks):
    """What an administrator may change on an account; fields left out stay as they are."""

    name: str = omittable(min_length=1, max_length=200)
    role: Role = omittable()
    is_active: bool = omittable()
