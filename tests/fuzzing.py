"""Schema fuzzing's hooks, loaded by schemathesis (SCHEMATHESIS_HOOKS=tests.fuzzing) when
tests/reliability/test_schema_fuzzing.py runs it against the live platform:

- each request carries the token of the next role in turn (MC_FUZZ_TOKENS, a JSON list), so every
  operation is reached as admin, coordinator, producer, consumer, financier and municipality alike;
- the check `datetimes_carry_their_offset`: every datetime in a JSON answer says its UTC offset.

Only schemathesis imports this module (it registers global hooks).
"""

import itertools
import json
import os
import re

import schemathesis

_TOKENS = itertools.cycle(json.loads(os.environ.get("MC_FUZZ_TOKENS", "[]")) or [None])


@schemathesis.auth(refresh_interval=None, retry_on=[])
class EveryRoleInTurn:
    def get(self, case, context):
        return next(_TOKENS)

    def set(self, case, data, context):
        if data:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_OFFSET = re.compile(r"(Z|[+-]\d{2}:?\d{2})$")


def naive_datetimes(value, path: str = "$") -> list[str]:
    """Where in a JSON answer a datetime comes without its UTC offset (`$.items[0].created_at`)."""
    if isinstance(value, dict):
        return [p for key, item in value.items() for p in naive_datetimes(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [p for i, item in enumerate(value) for p in naive_datetimes(item, f"{path}[{i}]")]
    if isinstance(value, str) and _DATETIME.match(value) and not _OFFSET.search(value):
        return [f"{path} = {value!r}"]
    return []


@schemathesis.check
def datetimes_carry_their_offset(ctx, response, case):
    """Every datetime in a JSON answer says its offset: a client must never guess the zone."""
    if "json" not in response.headers.get("content-type", [""])[0]:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    naive = naive_datetimes(body)
    if naive:
        raise AssertionError(f"datetimes without an offset: {', '.join(naive[:5])}")
    return None
