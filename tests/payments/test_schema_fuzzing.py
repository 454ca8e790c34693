"""Schema fuzzing: requests generated from the payments OpenAPI (valid and invalid) never get a 5xx."""

import pytest
import schemathesis

from infra.demo_world import build_world
from services.payments.demo import load_demo
from tests.conftest import transactional_database
from tests.fuzzing import BOTH_MODES, SharedLoop, fuzz_operations, send_with
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
    headers = keys.headers("admin", account_id=1, producer_id=1, financier_id=1)
    with SharedLoop() as shared:
        db = shared.enter(transactional_database(url))
        client = shared.enter(payments_client(db, keys, url))
        shared.run(_world(db))
        schema = schemathesis.openapi.from_dict(shared.run(client.get("/openapi.json")).json())
        run = fuzz_operations(schema, send_with(shared, client, headers), examples=EXAMPLES_PER_OPERATION,
                              modes=BOTH_MODES)
    assert run.answered > 500
    assert not run.failures, run.failures[:5]
