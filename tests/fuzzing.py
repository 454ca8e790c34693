"""Schema fuzzing shared by the services' tests: bounded hypothesis runs over every operation of an
OpenAPI schema, sent to an app in process, collecting the answers that break the contract.

The in-process tests drive hypothesis synchronously, so app, client and database share one event
loop (`SharedLoop`) instead of pytest-asyncio's.
"""

import asyncio
from collections.abc import Callable, Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core import NotSet
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance

# for `case.validate_response(response, checks=...)`: no 5xx, and the answer is one the schema declares
SCHEMA_CHECKS = [not_a_server_error, response_schema_conformance]
BOTH_MODES = tuple(GenerationMode)  # valid requests, and requests the schema forbids


def bounded(examples: int) -> settings:
    """Hypothesis settings for fuzzing: `examples` cases, no deadline (a request may hit the database),
    no health checks (generated requests are slow and often filtered), no example database."""
    return settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))


@dataclass
class FuzzRun:
    answered: int = 0
    failures: list[str] = field(default_factory=list)


def fuzz_operations(schema, send: Callable[[Any], Any], *, examples: int,
                    modes: Iterable[GenerationMode] = (GenerationMode.POSITIVE,)) -> FuzzRun:
    """Send `examples` generated cases per operation and mode through `send(case)`, which returns the
    response, or None for a case no HTTP client can send. Records every 5xx and every exception
    (an in-process app that raises instead of answering) as a failure, and carries on."""
    run = FuzzRun()
    for result, mode in [(r, m) for r in schema.get_all_operations() for m in modes]:
        operation = result.ok()

        @bounded(examples)
        @given(case=operation.as_strategy(generation_mode=mode))
        def check(case):
            body = "" if isinstance(case.body, NotSet) else f" {case.body!r}"
            described = f"{case.method} {case.formatted_path}{body}"
            try:
                response = send(case)
            except Exception as exc:
                run.failures.append(f"{described} -> {exc!r}")
                return
            if response is None:
                return
            run.answered += 1
            if response.status_code >= 500:
                run.failures.append(f"{described} -> {response.status_code}: {response.text[:200]}")

        try:
            check()
        except Unsatisfiable:  # no invalid request exists for an operation without inputs
            assert mode is GenerationMode.NEGATIVE
    return run


class SharedLoop:
    """One event loop for a synchronous test: `enter(cm)` enters an async context manager on it (left
    in reverse order on exit), `run(coro)` runs a coroutine to completion."""

    def __enter__(self) -> "SharedLoop":
        self.loop = asyncio.new_event_loop()
        self._stack = AsyncExitStack()
        return self

    def __exit__(self, *exc_info) -> None:
        try:
            self.run(self._stack.aclose())
        finally:
            self.loop.close()

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    def enter(self, cm):
        return self.run(self._stack.enter_async_context(cm))


def send_with(shared: SharedLoop, client, headers: dict[str, str]) -> Callable[[Any], Any]:
    """A `send` for `fuzz_operations`: the case as an httpx request on `client` (running on the shared
    loop), with `headers` over the generated ones."""
    def send(case):
        kwargs = {"params": case.query or None, "headers": {**(case.headers or {}), **headers}}
        if isinstance(case.body, bytes | str):
            kwargs["content"] = case.body
            kwargs["headers"]["content-type"] = case.media_type or "application/json"
        elif not isinstance(case.body, NotSet):
            kwargs["json"] = case.body
        try:
            request = client.build_request(case.method, case.formatted_path, **kwargs)
        except (TypeError, ValueError, UnicodeEncodeError):
            return None  # not a request any HTTP client can send
        return shared.run(client.send(request))

    return send
