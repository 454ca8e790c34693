"""Secrets outside development must be unguessable: at least 32 bytes (256 bits) of entropy.

The entropy of a secret given as text is estimated from its length and the smallest alphabet that
writes it (hex: 4 bits a character, base64: 6, ...), and a text of few distinct characters
(`aaaa…`, `abcabc…`) is refused whatever its length. `openssl rand -hex 32` or
`python -c "import secrets; print(secrets.token_urlsafe(32))"` make good ones. A process that is
given a weaker one outside development refuses to start (RuntimeError), naming the variable.
"""

import math
import string

MIN_BITS = 256
_ALPHABETS = (
    (set("0123456789"), 10),
    (set("0123456789abcdef"), 16),
    (set("0123456789ABCDEF"), 16),
    (set(string.ascii_lowercase + string.digits), 36),
    (set(string.ascii_letters + string.digits), 62),
    (set(string.ascii_letters + string.digits + "-_="), 65),  # base64url (with padding)
    (set(string.ascii_letters + string.digits + "+/="), 65),  # base64
)


def estimated_bits(value: str) -> float:
    chars = set(value)
    if len(chars) < min(10, max(2, len(value) // 4)):
        return 0.0  # repetitive: its length says nothing
    size = next((n for alphabet, n in _ALPHABETS if chars <= alphabet), 95)
    return len(value) * math.log2(size)


def require_strong_secret(value: str, *, name: str) -> str:
    """`value`, or RuntimeError when it cannot hold 32 bytes of entropy."""
    if estimated_bits(value) < MIN_BITS:
        raise RuntimeError(f"{name} is too weak for use outside development: it needs at least 32 random "
                           "bytes, e.g. the output of `openssl rand -hex 32`")
    return value
