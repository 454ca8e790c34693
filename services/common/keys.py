"""Development key material, generated on first use under `var/keys/` and never committed.

Production sets MC_JWT_PRIVATE_KEY_PATH / MC_JWT_PUBLIC_KEY_PATH, MC_SERVICE_SECRET and
PAYMENTS_WEBHOOK_SECRET instead, each checked by `services.common.secret_strength`.
"""

import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.common.paths import var_dir


def keys_dir() -> Path:
    path = var_dir() / "keys"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _write_private(path: Path, data: bytes) -> None:
    """Create a file only its owner can read, atomically (two processes may race on first run)."""
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    try:
        os.link(tmp, path)  # fails if another process won the race: keep theirs
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


def ensure_signing_keys(private_path: Path | None = None, public_path: Path | None = None) -> tuple[Path, Path]:
    """Ed25519 key pair for access tokens; generated once if missing."""
    private_path = private_path or keys_dir() / "jwt_private.pem"
    public_path = public_path or keys_dir() / "jwt_public.pem"
    if not private_path.exists():
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        _write_private(private_path, pem)
    if not public_path.exists():
        key = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
        pub = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        _write_private(public_path, pub)
    return private_path, public_path


def require_ed25519_private_key(pem: bytes, *, name: str) -> None:
    """RuntimeError unless `pem` is an Ed25519 private key (32 random bytes; what tokens are signed with)."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise RuntimeError(f"{name}: not a readable unencrypted PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise RuntimeError(f"{name}: tokens are signed with Ed25519; this is a {type(key).__name__}")


def development_secret(name: str) -> str:
    """A random secret of this installation, made on first use under `var/keys/` (never committed)."""
    path = keys_dir() / name
    if not path.exists():
        _write_private(path, secrets.token_urlsafe(32).encode())
    return path.read_text().strip()


def development_service_secret() -> str:
    return development_secret("service_secret")
