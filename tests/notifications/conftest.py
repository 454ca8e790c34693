"""Fixtures of the notification tests: real local servers stand in for the providers.

- an SMTP server (aiosmtpd) receives the e-mails;
- an HTTP server receives the JSON that Apprise's `json://` target posts, standing in for the
  WhatsApp and SMS providers, and can be told to fail;
- a gateway on a rolled-back database whose directory asks a real delivery (and catalog) app in
  process for point names and hours.
"""

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest
from aiohttp import web
from aiosmtpd.controller import Controller
from asgi_lifespan import LifespanManager

from gateway.app import create_app as create_gateway
from gateway.models import Account
from infra.ports import free_port
from services.catalog.app import create_app as create_catalog
from services.common.events import Envelope
from services.common.http import ServiceClient
from services.delivery.app import create_app as create_delivery
from services.payments.app import create_app as create_payments
from tests.conftest import app_client, service_settings, transactional_database
from tests.delivery.conftest import create_point
from tests.gateway.conftest import gateway_settings


@dataclass
class Mailbox:
    """What the SMTP server received: (recipients, raw message)."""

    messages: list[tuple[list[str], str]] = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's handler hook
        self.messages.append((list(envelope.rcpt_tos), envelope.content.decode("utf-8", "replace")))
        return "250 OK"


@pytest.fixture
def smtp_server():
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port, mailbox
    finally:
        controller.stop()


@dataclass
class Provider:
    """A local HTTP server taking JSON messages; `fail_next` answers that many with 500."""

    url: str = ""
    received: list[dict] = field(default_factory=list)
    refused: int = 0
    fail_next: int = 0

    def posts_to(self, channel: str) -> list[dict]:
        return [m for m in self.received if m.get("channel") == channel]


@asynccontextmanager
async def provider_server() -> AsyncIterator[Provider]:
    provider = Provider()

    async def receive(request: web.Request) -> web.Response:
        body = await request.json()
        if provider.fail_next > 0:
            provider.fail_next -= 1
            provider.refused += 1
            return web.Response(status=500, text="provider down")
        provider.received.append(body)
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/{channel}", receive)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    provider.url = f"127.0.0.1:{port}"
    try:
        yield provider
    finally:
        await runner.cleanup()


@pytest.fixture
async def provider() -> AsyncIterator[Provider]:
    async with provider_server() as server:
        yield server


def channel_urls(provider: Provider | None, smtp_port: int | None) -> dict[str, str]:
    urls = {}
    if provider is not None:
        urls["notify_whatsapp_url"] = f"json://{provider.url}/wa?:to={{phone}}&:channel=whatsapp"
        urls["notify_sms_url"] = f"json://{provider.url}/sms?:to={{phone}}&:channel=sms"
    if smtp_port is not None:
        urls["notify_email_url"] = (f"mailto://127.0.0.1:{smtp_port}?to={{email}}&from=avisos@mercadocorto.bo"
                                    f"&mode=insecure")
    return urls


@dataclass
class Notifying:
    app: object
    client: httpx.AsyncClient
    db: object
    delivery: httpx.AsyncClient
    keys: object
    catalog: httpx.AsyncClient | None = None
    catalog_db: object = None
    payments_db: object = None

    async def deliver(self, event_type: str, payload: dict, *, event_id: str | None = None,
                      occurred_at=None) -> Envelope:
        """Deliver an event the way the HTTP transport does: POST /internal/events with the service key."""
        fields = {"type": event_type, "aggregate_id": str(payload.get("order_id", payload.get("cycle_id", "1"))),
                  "source": "orders", "payload": {"schema_version": 1, **payload}}
        if event_id:
            fields["id"] = event_id
        if occurred_at:
            fields["occurred_at"] = occurred_at
        envelope = Envelope(**fields)
        r = await self.client.post("/internal/events", json=envelope.model_dump(mode="json"),
                                   headers={"X-Service-Key": self.app.state.service_secret,
                                            "X-Service-Name": envelope.source})
        assert r.status_code == 200, r.text
        return envelope

    async def account(self, *, role: str = "consumer", phone: str | None = "+59171234567",
                      email: str | None = "ana@example.bo", producer_id: int | None = None, **links) -> Account:
        async with self.db.session() as session:
            account = Account(phone=phone, email=email, password_hash="-", name="Ana Quispe", role=role,
                              producer_id=producer_id, **links)
            session.add(account)
            await session.flush()
            return account

    def headers(self, account: Account) -> dict:
        return self.keys.headers(account.role, account_id=account.id, producer_id=account.producer_id,
                                 financier_id=account.financier_id)

    async def send(self):
        return await self.app.state.notifier.send_due()

    async def point(self, **overrides) -> dict:
        return await create_point(self.delivery, self.keys, **overrides)


@asynccontextmanager
async def notifying_gateway(migrated, backend, keys, *, with_payments: bool = False,
                            **settings) -> AsyncIterator[Notifying]:
    """`with_payments`: a payments app too (statements for 'settlement ready'); its database is `payments_db`."""
    names = ("gateway", "delivery", "catalog", "payments") if with_payments else ("gateway", "delivery", "catalog")
    urls = {s: migrated.url(s, backend) for s in names}
    async with AsyncExitStack() as stack:
        dbs = {s: await stack.enter_async_context(transactional_database(u)) for s, u in urls.items()}
        delivery_app = create_delivery(service_settings("delivery", urls["delivery"]), database=dbs["delivery"],
                                       verifier=keys.verifier)
        catalog_app = create_catalog(service_settings("catalog", urls["catalog"]), database=dbs["catalog"],
                                     verifier=keys.verifier)
        delivery = await stack.enter_async_context(app_client(delivery_app))
        catalog = await stack.enter_async_context(app_client(catalog_app))
        peers = [("delivery", delivery_app), ("catalog", catalog_app)]
        if with_payments:
            payments_app = create_payments(service_settings("payments", urls["payments"]), database=dbs["payments"],
                                           verifier=keys.verifier, clients={})
            await stack.enter_async_context(LifespanManager(payments_app))
            peers.append(("payments", payments_app))
        clients = {name: ServiceClient(name, f"http://{name}", secret="test-service-secret", caller="gateway",
                                       transport=httpx.ASGITransport(app))
                   for name, app in peers}
        gateway = create_gateway(gateway_settings(urls["gateway"], keys, **settings), database=dbs["gateway"],
                                 verifier=keys.verifier, clients=clients)
        client = await stack.enter_async_context(app_client(gateway))
        yield Notifying(app=gateway, client=client, db=dbs["gateway"], delivery=delivery, keys=keys, catalog=catalog,
                        catalog_db=dbs["catalog"], payments_db=dbs.get("payments"))
        for c in clients.values():
            await c.aclose()


