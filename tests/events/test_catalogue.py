"""The catalogue in docs/events.md is the contract: every event type there, each payload versioned."""

import re
from pathlib import Path

from services.common.events import EVENT_TYPES, Envelope, emit
from services.orders.models import kernel as orders_kernel
from tests.conftest import transactional_database

DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"


def catalogue() -> dict[str, str]:
    rows = re.findall(r"^\| `([a-z_.]+)` \| [^|]+ \| [^|]+ \| `([^`]+)` \|", DOC.read_text(), re.MULTILINE)
    return dict(rows)


def test_every_event_type_is_documented_with_a_versioned_payload():
    documented = catalogue()
    assert set(documented) == set(EVENT_TYPES)
    for event_type, payload in documented.items():
        assert payload.startswith("schema_version, "), event_type


async def test_emitted_payload_carries_its_schema_version(backend, migrated):
    async with transactional_database(migrated.url("orders", backend)) as db:
        async with db.session() as session:
            envelope = await emit(session, orders_kernel, event_type="order.cancelled", aggregate_id=42,
                                  payload={"order_id": "42"}, version=2)
    assert envelope.version == envelope.payload["schema_version"] == 2
    assert envelope.aggregate_id == "42"
    # Readers ignore what they don't know.
    again = Envelope.model_validate({**envelope.model_dump(mode="json"), "trace": "x"})
    assert again == envelope
