"""How events travel between services: one small interface, two transports.

A service never talks to a transport: it calls `events.emit` inside its transaction, and lists
handlers in `ServiceSpec.event_handlers`. The relay publishes outbox rows through a `Transport`;
subscribed events come back through `inbox.handle_event`, which dedupes by event id.

- `HttpTransport` (default, no broker): POST the envelope to `/internal/events` of every process
  (service or gateway) that handles the event type. Published = every subscriber answered 2xx.
- `NatsTransport` (`EVENTS_URL=nats://...`): JetStream. Published = the stream stored it (PubAck),
  with `Nats-Msg-Id` = event id so a re-publish is dropped by the stream's duplicate window. Each
  service pulls batches from its own durable consumer, stores each batch in its incoming queue in
  one transaction and acknowledges it after that commit; `services.common.incoming` handles the
  queue in order per aggregate (see docs/events.md). Stream, subjects and durable names carry the
  installation name, so installations sharing a NATS server never see each other's events.
"""

import asyncio
import contextlib
import importlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Protocol

import orjson

from services.common.errors import DomainError
from services.common.events import Envelope
from services.common.http import ServiceClient
from services.common.inbox import EVENTS_BATCH_PATH, EVENTS_PATH
from services.common.settings import EVENT_PROCESSES, ServiceSettings

log = logging.getLogger("mercado.events")

Store = Callable[[list[Envelope]], Awaitable[object]]
Subscribers = Callable[[str], Iterable[str]]


class PublishError(Exception):
    """The event was not acknowledged; the relay keeps it and retries later."""


class Transport(Protocol):
    """What the relay and the consumer loop need from a transport."""

    name: str
    #: True when this process must pull its incoming events (broker); False when they are pushed to
    #: the service's `/internal/events` endpoint.
    pulls: bool

    async def publish(self, envelope: Envelope) -> None:
        """Return once the event is acknowledged; raise `PublishError` otherwise."""

    async def receive(self, store: Store, *, max_messages: int = 500, wait_seconds: float = 1.0) -> int:
        """Pull a batch of incoming events (pull transports), `store` it, acknowledge it after; return
        how many messages were acknowledged."""

    async def close(self) -> None:
        """Release connections."""


def handled_event_types(process: str) -> frozenset[str]:
    """The event types a process handles, read where it declares its handlers: a service's
    `services.<name>.subscriptions.EVENT_HANDLERS` (the table its `SPEC.event_handlers` is; none
    without that module), the gateway's `HANDLED_EVENTS` (its spec is built per app). Never from a
    peer's app module: that would load the whole peer (routes, route solver, images) into the
    publisher, some 40 MB of memory in every process for a list of names."""
    if process == "gateway":
        return frozenset(importlib.import_module("gateway.notifications.handlers").HANDLED_EVENTS)
    name = f"services.{process}.subscriptions"
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        return frozenset()
    return frozenset(module.EVENT_HANDLERS)


def spec_subscribers(source: str) -> Subscribers:
    """Subscribers of an event type: the other processes (services, gateway) that handle it.

    Their handler tables are imported lazily, on first use, so a service does not import its peers'
    handlers at start-up.
    """
    cache: dict[str, tuple[str, ...]] = {}

    def subscribers(event_type: str) -> tuple[str, ...]:
        if event_type not in cache:
            cache[event_type] = tuple(name for name in EVENT_PROCESSES
                                      if name != source and event_type in handled_event_types(name))
        return cache[event_type]

    return subscribers


def table_subscribers(table: Mapping[str, Iterable[str]]) -> Subscribers:
    """Subscribers from an explicit `{event_type: [service, ...]}` table (tests, tooling)."""
    frozen = {k: tuple(v) for k, v in table.items()}
    return lambda event_type: frozen.get(event_type, ())


class HttpTransport:
    """Push delivery: POST to each subscriber's `/internal/events` with the service credential."""

    name = "http"
    pulls = False

    def __init__(self, clients: Mapping[str, ServiceClient], subscribers: Subscribers):
        self.clients = clients
        self.subscribers = subscribers

    async def publish(self, envelope: Envelope) -> None:
        targets = list(self.subscribers(envelope.type))
        if not targets:
            return
        body = envelope.model_dump(mode="json")
        results = await asyncio.gather(*(self._deliver(name, body) for name in targets),
                                        return_exceptions=True)
        failures = [f"{name}: {result}" for name, result in zip(targets, results, strict=True)
                    if isinstance(result, BaseException)]
        if failures:
            raise PublishError("; ".join(failures))

    async def publish_batch(self, envelopes: Sequence[Envelope]) -> list[str | None]:
        """Several events in one request per subscriber (what a busy relay claims in one round: at
        most one per aggregate, so no order is at stake within it). Per event: None when every one
        of its subscribers kept it, else why not (the relay retries those; subscribers dedupe)."""
        bodies = [envelope.model_dump(mode="json") for envelope in envelopes]
        by_target: dict[str, list[int]] = {}
        for n, envelope in enumerate(envelopes):
            for name in self.subscribers(envelope.type):
                by_target.setdefault(name, []).append(n)
        targets = list(by_target)
        results = await asyncio.gather(*(self._deliver_many(name, [bodies[n] for n in by_target[name]])
                                         for name in targets), return_exceptions=True)
        errors: list[str | None] = [None] * len(envelopes)
        for name, result in zip(targets, results, strict=True):
            if isinstance(result, BaseException):
                for n in by_target[name]:
                    errors[n] = "; ".join(filter(None, [errors[n], f"{name}: {result}"]))
        return errors

    async def _deliver_many(self, name: str, bodies: list[dict]) -> None:
        if len(bodies) == 1:
            return await self._deliver(name, bodies[0])
        client = self.clients.get(name)
        if client is None:
            raise PublishError(f"no client configured for the {name} service")
        try:
            response = await client.request("POST", EVENTS_BATCH_PATH, json={"events": bodies})
        except DomainError as exc:
            raise PublishError(exc.message) from None
        if not 200 <= response.status_code < 300:
            raise PublishError(f"{name} answered {response.status_code}: {response.text[:300]}")

    async def _deliver(self, name: str, body: dict) -> None:
        client = self.clients.get(name)
        if client is None:
            raise PublishError(f"no client configured for the {name} service")
        try:
            response = await client.request("POST", EVENTS_PATH, json=body,
                                            headers={"X-Event-Id": body["id"]})
        except DomainError as exc:  # ServiceUnavailable: connection refused, timeout
            raise PublishError(exc.message) from None
        if not 200 <= response.status_code < 300:
            raise PublishError(f"{name} answered {response.status_code}: {response.text[:300]}")

    async def receive(self, store: Store, *, max_messages: int = 500, wait_seconds: float = 1.0) -> int:
        return 0  # pushed: events arrive at /internal/events

    async def close(self) -> None:
        return None  # the clients belong to the app


async def _log_nats_error(exc: Exception) -> None:
    # The relay or the consumer reports the failure that matters; this keeps nats-py from printing
    # a traceback for every connection attempt.
    log.info("NATS connection error", extra={"error": repr(exc)})


class NatsTransport:
    """NATS JetStream: one stream per installation, one durable pull consumer per service."""

    name = "nats"
    pulls = True

    def __init__(self, url: str, *, service: str, stream: str = "MERCADO",
                 subject_prefix: str = "mercado.events", durable: str | None = None,
                 subscribed: Iterable[str] = (), ack_wait_seconds: float = 30.0,
                 max_age_seconds: float = 14 * 86400, duplicate_window_seconds: float = 120.0,
                 timeout: float = 5.0, retry_delay_seconds: float = 1.0, max_ack_pending: int = 5000,
                 busy_wait_seconds: float = 0.05):
        self.url = url
        self.service = service
        self.stream = stream
        self.subject_prefix = subject_prefix
        self.durable = durable or service
        self.subscribed = frozenset(subscribed)
        self.ack_wait_seconds = ack_wait_seconds
        self.max_age_seconds = max_age_seconds
        self.duplicate_window_seconds = duplicate_window_seconds
        self.timeout = timeout
        self.retry_delay_seconds = retry_delay_seconds
        self.max_ack_pending = max_ack_pending
        self.busy_wait_seconds = busy_wait_seconds
        self._busy = False  # the last fetch brought messages: ask for a whole batch, wait briefly
        self._nc = None
        self._js = None
        self._stream_ready = False
        self._sub = None
        self._lock = asyncio.Lock()

    def subject(self, envelope: Envelope) -> str:
        return f"{self.subject_prefix}.{envelope.source or 'unknown'}.{envelope.type}"

    async def _jetstream(self):
        async with self._lock:
            if self._nc is None or self._nc.is_closed:
                import nats

                try:
                    # Few reconnect attempts: nats-py also applies them to the first connect. Once the
                    # client gives up it is closed, and the next call here connects afresh.
                    self._nc = await asyncio.wait_for(
                        nats.connect(self.url, connect_timeout=self.timeout, allow_reconnect=True,
                                     max_reconnect_attempts=3, reconnect_time_wait=0.5,
                                     name=f"mercado-{self.service}", error_cb=_log_nats_error),
                        timeout=self.timeout * 2 + 2)
                except Exception as exc:  # unreachable broker: keep the events, retry later
                    self._nc = None
                    raise PublishError(f"NATS not reachable at {self.url}: {exc!r}") from None
                self._js = self._nc.jetstream(timeout=self.timeout)
                self._stream_ready = False
                self._sub = None
            if not self._stream_ready:
                await self._ensure_stream()
                self._stream_ready = True
            return self._js

    async def _ensure_stream(self) -> None:
        from nats.js.api import RetentionPolicy, StorageType, StreamConfig
        from nats.js.errors import NotFoundError

        try:
            await self._js.stream_info(self.stream)
        except NotFoundError:
            # Limits retention (not interest): a service that subscribes later, or whose consumer
            # does not exist yet, still finds every event of the last `max_age`.
            try:
                await self._js.add_stream(StreamConfig(
                    name=self.stream, subjects=[f"{self.subject_prefix}.>"], retention=RetentionPolicy.LIMITS,
                    storage=StorageType.FILE, max_age=self.max_age_seconds,
                    duplicate_window=self.duplicate_window_seconds))
            except Exception:
                await self._js.stream_info(self.stream)  # another service created it meanwhile: fine

    async def publish(self, envelope: Envelope) -> None:
        js = await self._jetstream()
        data = orjson.dumps(envelope.model_dump(mode="json"))
        try:
            ack = await js.publish(self.subject(envelope), data, timeout=self.timeout, stream=self.stream,
                                   headers={"Nats-Msg-Id": envelope.id})
        except Exception as exc:
            raise PublishError(f"JetStream did not store {envelope.id}: {exc!r}") from None
        if ack.duplicate:
            log.info("event already in the stream", extra={"event_id": envelope.id})

    async def _subscription(self):
        js = await self._jetstream()
        if self._sub is None:
            from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

            config = ConsumerConfig(
                durable_name=self.durable, ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.ALL,
                # Batches in flight: the order per aggregate is kept by the incoming queue (one
                # puller per service stores batches in stream order), not by the broker.
                max_ack_pending=self.max_ack_pending, ack_wait=self.ack_wait_seconds, max_deliver=-1,
                filter_subject=f"{self.subject_prefix}.>")
            try:
                await js.add_consumer(self.stream, config)
            except Exception as exc:  # exists with another config: keep it, it still delivers
                log.warning("JetStream consumer kept as it is", extra={"durable": self.durable,
                                                                       "error": repr(exc)})
            self._sub = await js.pull_subscribe_bind(durable=self.durable, stream=self.stream)
        return self._sub

    async def receive(self, store: Store, *, max_messages: int = 500, wait_seconds: float = 1.0) -> int:
        """One fetch: a whole batch when events are flowing, else wait up to `wait_seconds` for one.

        (nats-py's `fetch(n, timeout)` waits until it has n messages or the timeout passed: asking an
        idle consumer for a batch would wait the full timeout for every partial batch.)
        """
        if not self.subscribed:
            return 0
        sub = await self._subscription()
        batch, timeout = (max_messages, self.busy_wait_seconds) if self._busy else (1, wait_seconds)
        try:
            messages = await sub.fetch(batch, timeout=timeout)
        except TimeoutError:
            self._busy = False
            return 0
        except Exception:
            self._sub = None  # e.g. the consumer was deleted: bind (or create) it again next time
            raise
        self._busy = True
        envelopes, good = [], []
        for msg in messages:
            try:
                envelopes.append(Envelope.model_validate_json(msg.data))
                good.append(msg)
            except ValueError as exc:
                # Not an envelope: no retry can fix it; terminate it so it cannot come back.
                log.error("malformed event dropped", extra={"subject": msg.subject, "error": str(exc)})
                await msg.term()
        try:
            await store(envelopes)
        except BaseException:
            # Not stored: give them back at once; redeliveries come before newer messages.
            for msg in good:
                with contextlib.suppress(Exception):
                    await msg.nak()
            raise
        for msg in good:
            await msg.ack()
        await self._nc.flush(timeout=self.timeout)
        return len(good)

    async def unacknowledged(self) -> int:
        """Events delivered to this service's consumer and not acknowledged (a puller died holding them)."""
        if not self.subscribed:
            return 0
        js = await self._jetstream()
        await self._subscription()
        info = await js.consumer_info(self.stream, self.durable, timeout=self.timeout)
        return info.num_ack_pending or 0

    async def backlog(self) -> tuple[int, object]:
        """(events in the stream not yet acknowledged by this service's consumer, `occurred_at` of the
        oldest of them or None)."""
        if not self.subscribed:
            return 0, None
        js = await self._jetstream()
        await self._subscription()
        info = await js.consumer_info(self.stream, self.durable, timeout=self.timeout)
        waiting = (info.num_pending or 0) + (info.num_ack_pending or 0)
        oldest = None
        if waiting:
            with contextlib.suppress(Exception):  # the message may be gone (max_age): no age then
                first = await js.get_msg(self.stream, seq=(info.ack_floor.stream_seq or 0) + 1)
                oldest = Envelope.model_validate_json(first.data).occurred_at
        return waiting, oldest

    async def close(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            # Plain close, not drain: unacked messages are simply redelivered to the next consumer.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._nc.close(), timeout=self.timeout)
        self._nc = self._js = self._sub = None


def make_transport(settings: ServiceSettings, *, service: str, clients: Mapping[str, ServiceClient],
                   subscribers: Subscribers | None = None, subscribed: Iterable[str] = ()) -> Transport:
    """The transport the settings ask for: NATS JetStream when EVENTS_URL is nats://, else HTTP."""
    url = settings.events_url.strip()
    if url.startswith(("nats://", "tls://")):
        stream, subject_prefix, durable = settings.event_names(service)
        return NatsTransport(url, service=service, stream=stream, subject_prefix=subject_prefix, durable=durable,
                             subscribed=subscribed, timeout=settings.http_timeout_seconds,
                             retry_delay_seconds=settings.relay_backoff_seconds,
                             ack_wait_seconds=settings.events_ack_wait_seconds,
                             max_ack_pending=max(1000, 4 * settings.events_batch_size))
    if url and not url.startswith(("http://", "https://")):
        raise RuntimeError(f"EVENTS_URL={url!r} is not supported: use nats://host:4222 or leave it empty")
    return HttpTransport(clients, subscribers or spec_subscribers(service))


__all__ = ["EVENTS_PATH", "HttpTransport", "NatsTransport", "PublishError", "Transport",
           "handled_event_types", "make_transport", "spec_subscribers", "table_subscribers"]
