"""Signed, expiring access and refresh tokens (EdDSA / Ed25519).

Only the gateway holds the private key; services verify with the public key
(`services.common.auth.TokenVerifier`).
"""

import time
import uuid
from pathlib import Path
from typing import Any

import jwt

ACCESS_TTL_SECONDS = 15 * 60
REFRESH_TTL_SECONDS = 30 * 24 * 3600


class TokenIssuer:
    def __init__(self, private_key_pem: bytes, *, issuer: str = "mercado-corto",
                 access_ttl: int = ACCESS_TTL_SECONDS, refresh_ttl: int = REFRESH_TTL_SECONDS):
        self.private_key = private_key_pem
        self.issuer = issuer
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl

    @classmethod
    def from_file(cls, path: str | Path, **kw) -> "TokenIssuer":
        return cls(Path(path).read_bytes(), **kw)

    def access_token(self, *, account_id: int, role: str, name: str = "", ttl: int | None = None,
                     **links: Any) -> str:
        issued = time.time()
        now = int(issued)
        # `iat` to the millisecond: a revocation and a token issued in the same second are told apart
        claims = {"iss": self.issuer, "sub": str(account_id), "role": role, "name": name, "typ": "access",
                  "iat": round(issued, 3), "exp": now + (self.access_ttl if ttl is None else ttl), "jti": uuid.uuid4().hex}
        claims.update({k: v for k, v in links.items() if v is not None})
        return jwt.encode(claims, self.private_key, algorithm="EdDSA")

    def refresh_token(self, *, account_id: int, ttl: int | None = None) -> str:
        return self.refresh_token_with_claims(account_id=account_id, ttl=ttl)[0]

    def refresh_token_with_claims(self, *, account_id: int, ttl: int | None = None) -> tuple[str, dict[str, Any]]:
        """The token and its claims (the gateway records `jti` and `exp` to make it single-use)."""
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": str(account_id), "typ": "refresh", "iat": now,
                  "exp": now + (self.refresh_ttl if ttl is None else ttl), "jti": uuid.uuid4().hex}
        return jwt.encode(claims, self.private_key, algorithm="EdDSA"), claims

    def decode_refresh(self, token: str, public_key: bytes) -> dict[str, Any]:
        claims = jwt.decode(token, public_key, algorithms=["EdDSA"], issuer=self.issuer)
        if claims.get("typ") != "refresh":
            raise jwt.InvalidTokenError("not a refresh token")
        return claims
