"""Over NATS JetStream (EVENTS_URL=nats://...) the gateway pulls its events with its own durable
consumer, like a service; the notification follows."""

import pytest

from services.common.events import Envelope
from services.common.transports import NatsTransport
from tests.events.harness import NATS_URL, delete_stream, nats_names, require_nats
from tests.notifications.conftest import notifying_gateway


@pytest.fixture
async def names():
    await require_nats()
    names = nats_names()
    yield names
    await delete_stream(names["events_stream"])


async def test_the_gateway_consumes_its_events_from_jetstream(names, backend, migrated, keys):
    async with notifying_gateway(migrated, backend, keys, **names) as gw:
        point = await gw.point()
        ana = await gw.account()
        orders = NatsTransport(NATS_URL, service="orders", stream=names["events_stream"],
                               subject_prefix=names["events_subject_prefix"])
        try:
            envelope = Envelope(type="order.cancelled", aggregate_id="41", source="orders", payload={
                "schema_version": 1, "order_id": 41, "consumer_account_id": ana.id, "total": "57.50",
                "delivery_point_id": point["id"]})
            await orders.publish(envelope)
            await orders.publish(envelope)  # a relay that died before marking it: the stream drops the copy
        finally:
            await orders.close()
        assert isinstance(gw.app.state.event_transport, NatsTransport)
        assert await gw.app.state.event_consumer.drain() == 1
        [item] = (await gw.client.get("/api/notifications", headers=gw.headers(ana))).json()["items"]
        assert item["kind"] == "order_cancelled" and "Bs 57,50" in item["text"]
