"""Schema fuzzing: requests generated from the delivery OpenAPI (valid and invalid) never get a 5xx."""

import pytest
import schemathesis

from infra.demo_world import build_world
from services.delivery.demo import load_demo
from tests.conftest import transactional_database
from tests.delivery.conftest import SERVICE_KEY, delivery_client
from tests.fuzzing import BOTH_MODES, SharedLoop, fuzz_operations, send_with

EXAMPLES_PER_OPERATION = 40


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::pyvrp.exceptions.PenaltyBoundWarning")
def test_generated_requests_never_get_a_server_error(backend, migrated, keys):
    """Every operation, positive and negative cases, with a staff token and the service key, on a
    database holding the demo points and the demo cycle (one event loop for app and database)."""
    url = migrated.url("delivery", backend)
    headers = {**keys.headers("admin", account_id=1), **SERVICE_KEY}
    with SharedLoop() as shared:
        db = shared.enter(transactional_database(url))
        client = shared.enter(delivery_client(db, keys, url))
        shared.run(load_demo(db, build_world()))
        schema = schemathesis.openapi.from_dict(client.app.openapi())
        run = fuzz_operations(schema, send_with(shared, client, headers), examples=EXAMPLES_PER_OPERATION,
                              modes=BOTH_MODES)
    assert run.answered > 500
    assert not run.failures, run.failures[:5]
