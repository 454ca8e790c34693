"""Outside development nothing starts with a guessable secret, and no secret is committed."""

import secrets
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from services.common.secret_strength import estimated_bits, require_strong_secret
from services.common.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
STRONG = {"hex": lambda: secrets.token_hex(32), "base64url": lambda: secrets.token_urlsafe(32),
          "base64": lambda: "x" + secrets.token_urlsafe(40) + "/+="}
WEAK = {"word": lambda: "changeme", "old default": lambda: "development-webhook-secret",
        "one letter": lambda: "a" * 200, "repeated": lambda: "abc" * 40, "digits": lambda: "0123456789" * 3,
        "16 hex bytes": lambda: secrets.token_hex(16), "16 base64 bytes": lambda: secrets.token_urlsafe(16)}


@pytest.mark.parametrize("kind", sorted(STRONG))
def test_32_random_bytes_in_hex_or_base64_are_strong_enough(kind):
    value = STRONG[kind]()
    assert require_strong_secret(value, name="X") == value


@pytest.mark.parametrize("kind", sorted(WEAK))
def test_guessable_or_short_secrets_are_refused(kind):
    value = WEAK[kind]()
    assert estimated_bits(value) < 256
    with pytest.raises(RuntimeError, match="X is too weak"):
        require_strong_secret(value, name="X")


def test_outside_development_a_guessable_service_secret_stops_the_service():
    with pytest.raises(RuntimeError, match="MC_SERVICE_SECRET"):
        ServiceSettings(environment="production", service_secret="service-secret").resolved_service_secret()
    with pytest.raises(RuntimeError, match="must be set"):
        ServiceSettings(environment="production", service_secret="").resolved_service_secret()
    strong = secrets.token_urlsafe(32)
    assert ServiceSettings(environment="production", service_secret=strong).resolved_service_secret() == strong


def test_outside_development_a_guessable_webhook_secret_stops_payments():
    from services.payments.settings import Settings

    for weak in ("", "development-webhook-secret"):
        with pytest.raises(RuntimeError, match="PAYMENTS_WEBHOOK_SECRET"):
            Settings(environment="production", webhook_secret=weak, service_secret=secrets.token_hex(32))
    strong = secrets.token_hex(32)
    assert Settings(environment="production", webhook_secret=strong).webhook_secret == strong


def test_development_secrets_are_made_per_installation():
    from services.payments.settings import Settings

    made = Settings().webhook_secret  # under this test run's own var/ folder
    assert require_strong_secret(made, name="webhook") == made
    assert Settings().webhook_secret == made


def test_outside_development_the_gateway_refuses_a_signing_key_that_is_not_ed25519(tmp_path, keys):
    from gateway.app import load_token_issuer
    from gateway.settings import Settings

    rsa_like = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (tmp_path / "other.pem").write_bytes(rsa_like)
    production = {"environment": "production", "service_secret": secrets.token_hex(32)}
    with pytest.raises(RuntimeError, match="Ed25519"):
        load_token_issuer(Settings(jwt_private_key_path=str(tmp_path / "other.pem"), **production))
    assert load_token_issuer(Settings(jwt_private_key_path=str(keys.private_path), **production))


def test_outside_development_a_guessable_metrics_token_stops_the_service(keys):
    from services.catalog.app import create_app
    from services.catalog.settings import Settings

    production = {"environment": "production", "service_secret": secrets.token_hex(32),
                  "database_url": "sqlite+aiosqlite://"}
    with pytest.raises(RuntimeError, match="MC_METRICS_TOKEN"):
        create_app(Settings(metrics_token="prometheus", **production), verifier=keys.verifier)
    assert create_app(Settings(metrics_token=secrets.token_urlsafe(32), **production), verifier=keys.verifier)


def test_no_private_key_or_secret_file_is_committed():
    try:
        tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True,
                                 timeout=30).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"not a git checkout: {exc!r}")
    offenders = []
    for name in filter(None, tracked):
        path = ROOT / name
        if name.startswith("var/") or path.name in ("service_secret", "webhook_secret") or name.endswith(".pem"):
            offenders.append(name)
        elif path.is_file() and path.stat().st_size < 2_000_000 and b"PRIVATE KEY-----" in path.read_bytes() \
                and name != "tests/common/test_secrets.py":
            offenders.append(name)
    assert offenders == []
