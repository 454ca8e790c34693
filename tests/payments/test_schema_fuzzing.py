"""Schema fuzzing: requests generated from the payments OpenAPI (valid and invalid) never get a 5xx."""

import asyncio
import itertools

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.core import NotSet
from schemathesis.generation import GenerationMode

from infra.demo_world import build_world
from services.payments.demo import load_demo
from tests.conftest import transactional_database
from tests.payments.conftest import payments_client
from tests.payments.helpers import close_cycle, deliver, place_order

EXAMPLES_PER_OPERATION = 25


async def _world(db):
    await load_demo(db, build_world())
    await close_cycle(db, 1, coordinator_account_id=1, fee_rules=[{"kind": "admin", "basis": "percent", "value": "4",
                                                                "payer": "producer"}])
    await place_order(db, 1, 1, consumer=1, lines=[("1-1", 1, 1, "2", "10.00")], fees_total="2.00")
    await deliver(db, 1, 1, producer=1, lines=[(1, "2", "1.5", "10.00")])


@pytest.mark.slow
def test_generated_requests_never_get_a_server_error(backend, migrated, keys):
    """Every operation, positive and negative cases, as an admin, on a database holding the demo
    financier, one order and one delivered consignment (one event loop for app and database)."""
    url = migrated.url("payments", backend)
    loop = asyncio.new_event_loop()
    headers = keys.headers("admin", account_id=1, producer_id=1, financier_id=1)
    db_cm = transactional_database(url)
    db = loop.run_until_complete(db_cm.__aenter__())
    client_cm = payments_client(db, keys, url)
    client = loop.run_until_complete(client_cm.__aenter__())
    failures, answered = [], 0
    try:
        loop.run_until_complete(_world(db))
        schema = schemathesis.openapi.from_dict(loop.run_until_complete(client.get("/openapi.json")).json())
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
