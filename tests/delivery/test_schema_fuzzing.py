"""Schema fuzzing: requests generated from the delivery OpenAPI (valid and invalid) never get a 5xx."""

import asyncio
import itertools

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.core import NotSet
from schemathesis.generation import GenerationMode

from infra.demo_world import build_world
from services.delivery.demo import load_demo
from tests.conftest import transactional_database
from tests.delivery.conftest import SERVICE_KEY, delivery_client

EXAMPLES_PER_OPERATION = 40


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::pyvrp.exceptions.PenaltyBoundWarning")
def test_generated_requests_never_get_a_server_error(backend, migrated, keys):
    """Every operation, positive and negative cases, with a staff token and the service key, on a
    database holding the demo points and the demo cycle (one event loop for app and database)."""
    url = migrated.url("delivery", backend)
    loop = asyncio.new_event_loop()
    headers = {**keys.headers("admin", account_id=1), **SERVICE_KEY}
    db_cm = transactional_database(url)
    db = loop.run_until_complete(db_cm.__aenter__())
    client_cm = delivery_client(db, keys, url)
    client = loop.run_until_complete(client_cm.__aenter__())
    failures, answered = [], 0
    try:
        loop.run_until_complete(load_demo(db, build_world()))
        schema = schemathesis.openapi.from_dict(client.app.openapi())
        for result, mode in itertools.product(list(schema.get_all_operations()), GenerationMode):
            operation = result.ok()

            @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def check(case):
                nonlocal answered
                kwargs = {"params": case.query or None, "headers": {**(case.headers or {}), **headers}}
                if isinstance(case.body, bytes | str):
                    kwargs["content"] = case.body
                    kwargs["headers"]["content-type"] = case.media_type or "application/json"
                elif not isinstance(case.body, NotSet):
                    kwargs["json"] = case.body
                try:
                    request = client.build_request(case.method, case.formatted_path, **kwargs)
                except (TypeError, ValueError, UnicodeEncodeError):
                    return  # not a request any HTTP client can send
                response = loop.run_until_complete(client.send(request))
                answered += 1
                if response.status_code >= 500:
                    failures.append((case.method, case.formatted_path, kwargs, response.status_code, response.text))

            try:
                check()
            except Unsatisfiable:  # no invalid request exists for an operation without inputs
                assert mode is GenerationMode.NEGATIVE
    finally:
        loop.run_until_complete(client_cm.__aexit__(None, None, None))
        loop.run_until_complete(db_cm.__aexit__(None, None, None))
        loop.close()
    assert answered > 500
    assert not failures, failures[:5]
