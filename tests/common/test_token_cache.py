"""A service keeps the tokens it verified for a minute; the ones past it are dropped, not hoarded."""

from services.common import auth
from services.common.auth import TokenVerifier


def test_tokens_past_their_minute_are_dropped_and_every_token_still_verifies(keys, monkeypatch):
    monkeypatch.setattr(auth, "VERIFIED_TOKENS_KEPT", 4)
    verifier = TokenVerifier.from_file(keys.public_path)
    old = [keys.token(account_id=n) for n in (1, 2, 3)]
    for token in old:
        verifier.verify(token)
    for token in old:  # a minute later
        verifier._cache[token] = (0.0, verifier._cache[token][1])
    fresh = [keys.token(account_id=n) for n in (4, 5)]
    assert [verifier.verify(t).account_id for t in fresh] == [4, 5]
    assert set(verifier._cache) == set(fresh)
    assert [verifier.verify(t).account_id for t in old] == [1, 2, 3]  # verified again, not refused
