"""Notifications as people receive them: in the inbox, on WhatsApp/SMS (a local JSON server stands in
for the provider) and by e-mail (a local SMTP server), once per event, with retries that show."""

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from gateway.models import Account
from gateway.notifications.models import NotificationDelivery
from tests.gateway.conftest import register_and_login
from tests.notifications.conftest import channel_urls, notifying_gateway


def placed(consumer_id: int, point_id: int, **extra) -> dict:
    return {"order_id": 41, "cycle_id": 3, "consumer_account_id": consumer_id, "delivery_point_id": point_id,
            "lines": [], "fees_total": "2.00", "total": "57.50", "placed_at": "2026-11-25T14:00:00+00:00",
            "pickup_code": "K7P2Q9", "delivery_date": "2026-11-28", **extra}


async def _make_due(db) -> None:
    """Deliveries wait for the end of quiet hours (at night) or their retry backoff; tests send them now."""
    async with db.session() as session:
        await session.execute(update(NotificationDelivery).values(next_attempt_at=datetime.now(UTC)))


async def test_an_order_placed_reaches_the_inbox_whatsapp_and_email_once(backend, migrated, keys, provider,
                                                                       smtp_server):
    smtp_port, mailbox = smtp_server
    async with notifying_gateway(migrated, backend, keys, **channel_urls(provider, smtp_port)) as gw:
        point = await gw.point()
        ana = await gw.account()
        envelope = await gw.deliver("order.placed", placed(ana.id, point["id"]))
        await gw.deliver("order.placed", placed(ana.id, point["id"]), event_id=envelope.id)  # a repeat
        await _make_due(gw.db)
        first = await gw.send()
        again = await gw.send()

        assert (first.sent, again.sent) == (2, 0)
        [whatsapp] = provider.posts_to("whatsapp")
        assert whatsapp["to"] == "+59171234567"
        text = whatsapp["message"]
        assert "#41" in text and "Bs 57,50" in text and "Mercado Camacho" in text and "K7P2Q9" in text
        assert "sáb 28/11 de 08:00 a 13:00" in text and len(text) <= 160
        [(recipients, raw)] = mailbox.messages
        assert recipients == ["ana@example.bo"] and "Subject: Pedido confirmado" in raw

        r = await gw.client.get("/api/notifications", headers=gw.headers(ana))
        assert r.status_code == 200, r.text
        [item] = r.json()["items"]
        assert item["text"] == text and item["read"] is False
        assert sorted((d["channel"], d["status"]) for d in item["deliveries"]) == [("email", "sent"),
                                                                                   ("whatsapp", "sent")]


async def test_a_failing_channel_is_retried_and_its_attempts_are_visible(backend, migrated, keys, provider):
    async with notifying_gateway(migrated, backend, keys, **channel_urls(provider, None)) as gw:
        point = await gw.point()
        ana = await gw.account(email=None)
        await gw.deliver("order.placed", placed(ana.id, point["id"]))
        await _make_due(gw.db)
        provider.fail_next = 2

        rounds = []
        for _ in range(3):
            rounds.append(await gw.send())
            assert (await gw.send()).failed == 0  # backing off: not tried again at once
            await _make_due(gw.db)

        assert [(r.sent, r.failed) for r in rounds] == [(0, 1), (0, 1), (1, 0)]
        assert len(provider.posts_to("whatsapp")) == 1 and provider.refused == 2
        [item] = (await gw.client.get("/api/notifications", headers=gw.headers(ana))).json()["items"]
        [delivery] = item["deliveries"]
        assert delivery["status"] == "sent"
        assert [a["outcome"] for a in delivery["attempts"]] == ["failed", "failed", "sent"]
        assert "500" in delivery["attempts"][0]["error"]


async def test_a_channel_that_keeps_failing_gives_up_after_the_last_attempt(backend, migrated, keys, provider):
    async with notifying_gateway(migrated, backend, keys, **channel_urls(provider, None),
                                 notify_max_attempts=2) as gw:
        point = await gw.point()
        ana = await gw.account(email=None)
        await gw.deliver("order.placed", placed(ana.id, point["id"]))
        await _make_due(gw.db)
        provider.fail_next = 10
        for _ in range(4):
            await gw.send()
            await _make_due(gw.db)
        assert provider.refused == 2
        [item] = (await gw.client.get("/api/notifications", headers=gw.headers(ana))).json()["items"]
        assert item["deliveries"][0]["status"] == "failed"
        health = (await gw.client.get("/healthz")).json()["notifications"]
        assert health["failed"] == 1 and health["due"] == 0 and health["channels"] == ["sms", "whatsapp"]


async def test_nothing_configured_means_inbox_only(backend, migrated, keys, provider):
    async with notifying_gateway(migrated, backend, keys) as gw:
        point = await gw.point()
        ana = await gw.account()
        await gw.deliver("order.placed", placed(ana.id, point["id"]))
        assert (await gw.send()).sent == 0
        [item] = (await gw.client.get("/api/notifications", headers=gw.headers(ana))).json()["items"]
        assert item["deliveries"] == [] and "K7P2Q9" in item["text"]
        prefs = (await gw.client.get("/api/notifications/preferences", headers=gw.headers(ana))).json()
        assert prefs["available_channels"] == []


async def test_unread_count_and_marking_read_belong_to_the_account(backend, migrated, keys):
    async with notifying_gateway(migrated, backend, keys) as gw:
        point = await gw.point()
        ana = await gw.account()
        other = await gw.account(phone="+59171111111", email=None)
        await gw.deliver("order.placed", placed(ana.id, point["id"]))
        await gw.deliver("order.cancelled", {"order_id": 41, "cycle_id": 3, "consumer_account_id": ana.id,
                                             "delivery_point_id": point["id"], "line_ids": [], "total": "57.50",
                                             "reason": "ya no lo necesito"})
        count = await gw.client.get("/api/notifications/unread-count", headers=gw.headers(ana))
        assert count.json() == {"unread": 2}
        assert (await gw.client.get("/api/notifications/unread-count", headers=gw.headers(other))).json() == \
            {"unread": 0}
        page = (await gw.client.get("/api/notifications?limit=1", headers=gw.headers(ana))).json()
        newest = page["items"][0]
        assert "cancelado" in newest["text"] and page["next_cursor"]
        rest = (await gw.client.get(f"/api/notifications?limit=1&cursor={page['next_cursor']}",
                                    headers=gw.headers(ana))).json()
        assert "confirmado" in rest["items"][0]["text"] and rest["next_cursor"] is None

        stolen = await gw.client.post(f"/api/notifications/{newest['id']}/read", headers=gw.headers(other))
        assert stolen.status_code == 404 and stolen.json()["error"]["code"] == "notification_not_found"
        r = await gw.client.post(f"/api/notifications/{newest['id']}/read", headers=gw.headers(ana))
        assert r.status_code == 200 and r.json()["read"] is True
        assert (await gw.client.get("/api/notifications/unread-count", headers=gw.headers(ana))).json() == \
            {"unread": 1}
        assert (await gw.client.post("/api/notifications/read-all", headers=gw.headers(ana))).json() == {"marked": 1}
        assert (await gw.client.get("/api/notifications")).status_code == 401


async def test_a_muted_kind_is_not_sent_but_stays_in_the_inbox(backend, migrated, keys, provider, smtp_server):
    smtp_port, mailbox = smtp_server
    async with notifying_gateway(migrated, backend, keys, **channel_urls(provider, smtp_port)) as gw:
        point = await gw.point()
        ana = await gw.account()
        r = await gw.client.put("/api/notifications/preferences", headers=gw.headers(ana),
                                json={"channels": ["sms"], "muted_kinds": ["order_cancelled"]})
        assert r.status_code == 200, r.text
        assert r.json()["channels"] == ["sms"]
        await gw.deliver("order.placed", placed(ana.id, point["id"]))
        await gw.deliver("order.cancelled", {"order_id": 41, "consumer_account_id": ana.id, "total": "57.50"})
        await _make_due(gw.db)
        await gw.send()
        assert [m["message"][:9] for m in provider.received] == ["Pedido #4"]
        assert provider.posts_to("sms") and not provider.posts_to("whatsapp") and not mailbox.messages
        items = (await gw.client.get("/api/notifications", headers=gw.headers(ana))).json()["items"]
        assert [i["kind"] for i in items] == ["order_cancelled", "order_placed"]


async def test_preferences_refuse_what_cannot_be_honoured(backend, migrated, keys):
    async with notifying_gateway(migrated, backend, keys) as gw:
        no_email = await gw.account(email=None)
        cases = [({"channels": ["email"]}, "channel_without_address"),
                 ({"channels": [], "muted_kinds": ["session_revoked"]}, "security_kind_not_mutable"),
                 ({"channels": [], "muted_kinds": ["no_such_kind"]}, "unknown_kind")]
        for body, code in cases:
            r = await gw.client.put("/api/notifications/preferences", headers=gw.headers(no_email), json=body)
            assert r.status_code == 422 and r.json()["error"]["code"] == code, r.text
        r = await gw.client.put("/api/notifications/preferences", headers=gw.headers(no_email),
                                json={"channels": ["telegram"]})
        assert r.status_code == 422


async def test_the_daily_cap_stops_phone_messages_but_not_the_inbox(backend, migrated, keys, provider):
    async with notifying_gateway(migrated, backend, keys, **channel_urls(provider, None), notify_daily_cap=2) as gw:
        point = await gw.point()
        ana = await gw.account(email=None)
        for order_id in (1, 2, 3):
            await gw.deliver("order.placed", placed(ana.id, point["id"], order_id=order_id))
        await _make_due(gw.db)
        result = await gw.send()
        assert (result.sent, result.skipped) == (2, 1)
        assert len(provider.received) == 2
        assert (await gw.client.get("/api/notifications/unread-count", headers=gw.headers(ana))).json() == \
            {"unread": 3}


async def test_a_replayed_old_event_reaches_the_inbox_only(backend, migrated, keys, provider):
    async with notifying_gateway(migrated, backend, keys, **channel_urls(provider, None)) as gw:
        point = await gw.point()
        ana = await gw.account(email=None)
        await gw.deliver("order.placed", placed(ana.id, point["id"]),
                         occurred_at=datetime.now(UTC) - timedelta(days=5))
        [item] = (await gw.client.get("/api/notifications", headers=gw.headers(ana))).json()["items"]
        assert item["deliveries"] == []


async def test_goods_received_and_advances_reach_the_producers_accounts(backend, migrated, keys):
    async with notifying_gateway(migrated, backend, keys) as gw:
        point = await gw.point()
        producer = await gw.account(role="producer", producer_id=7)
        consumer = await gw.account(phone="+59171111111", email=None)
        await gw.deliver("consignment.delivered", {
            "consignment_id": 5, "cycle_id": 3, "producer_id": 7, "organization_id": None,
            "delivery_point_id": point["id"], "accepted_value": "180.00", "received_at": "2026-11-28T12:00:00Z",
            "lines": [{"product_id": 999, "ordered_quantity": "10", "received_quantity": "10",
                       "rejected_quantity": "2", "reject_reason": "golpeado", "unit": "kg", "unit_price": "9.00",
                       "accepted_value": "72.00"}]})
        await gw.deliver("advance.disbursed", {"advance_id": 9, "producer_id": 7, "financier_id": 1, "fund_id": 1,
                                               "principal": "500.00", "fee": "10.00", "receivable_ids": []})
        await gw.deliver("advance.repaid", {"advance_id": 9, "producer_id": 7, "principal_repaid": "500.00",
                                            "fee_repaid": "10.00", "outstanding": "0.00"})
        items = (await gw.client.get("/api/notifications", headers=gw.headers(producer))).json()["items"]
        texts = {i["kind"]: i["text"] for i in items}
        assert "Bs 180,00" in texts["goods_received"] and "2 kg producto 999 (golpeado)" in texts["goods_received"]
        assert "Bs 500,00" in texts["advance_disbursed"] and "Bs 10,00" in texts["advance_disbursed"]
        assert "Saldo pendiente: Bs 0,00" in texts["advance_repaid"]
        assert all(len(t) <= 160 for t in texts.values())
        assert (await gw.client.get("/api/notifications", headers=gw.headers(consumer))).json()["items"] == []


async def test_a_closed_cycle_sends_pick_lists_now_and_pickup_reminders_later(backend, migrated, keys, provider,
                                                                             smtp_server):
    smtp_port, mailbox = smtp_server
    async with notifying_gateway(migrated, backend, keys, **channel_urls(provider, smtp_port)) as gw:
        point = await gw.point()
        producer = await gw.account(role="producer", producer_id=7, phone=None, email="flora@example.bo")
        ana = await gw.account(phone="+59171111111", email=None)
        day = (datetime.now(UTC) + timedelta(days=3)).date()
        await gw.deliver("cycle.closed", {
            "cycle_id": 3, "name": "Feria del sábado", "delivery_date": day.isoformat(), "fee_rules": [],
            "consignments": [{"producer_id": 7, "producer_name": "Flora", "organization_id": None,
                              "delivery_point_id": point["id"], "pickup": {"lat": 0, "lon": 0},
                              "lines": [{"product_id": 1, "product_name": "papa huaycha", "quantity": "10.000",
                                         "unit": "kg", "unit_price": "6.00", "kg": "10"}]}],
            "bags": [{"order_id": 41, "delivery_point_id": point["id"], "consumer_account_id": ana.id}]})
        [pick_list] = (await gw.client.get("/api/notifications", headers=gw.headers(producer))).json()["items"]
        assert "lleve a Mercado Camacho" in pick_list["text"] and "10 kg papa huaycha" in pick_list["text"]
        # the reminders exist but show (and go out) the evening before and on the morning of the day
        assert (await gw.client.get("/api/notifications", headers=gw.headers(ana))).json()["items"] == []
        async with gw.db.session() as session:
            from sqlalchemy import select

            from gateway.notifications.models import Notification
            kinds = sorted((await session.execute(select(Notification.kind).where(
                Notification.account_id == ana.id))).scalars())
        assert kinds == ["pickup_today", "pickup_tomorrow"]
        result = await gw.send()
        assert result.sent == 1 and not provider.received  # the e-mailed pick list; the reminders wait
        [(recipients, _)] = mailbox.messages
        assert recipients == ["flora@example.bo"]


async def test_waitlist_events_are_read_defensively(backend, migrated, keys):
    async with notifying_gateway(migrated, backend, keys) as gw:
        point = await gw.point()
        ana = await gw.account()
        await gw.deliver("order.waitlisted", {"order_id": 50, "consumer_account_id": ana.id, "position": 2,
                                              "delivery_point_id": point["id"]})
        await gw.deliver("order.promoted", {"order_id": 50, "consumer_account_id": ana.id, "point_id": point["id"],
                                            "pickup_code": "ZX81"})
        await gw.deliver("order.promoted", {"order_id": 51, "consumer_account_id": str(uuid.uuid4())})
        items = (await gw.client.get("/api/notifications", headers=gw.headers(ana))).json()["items"]
        assert [i["kind"] for i in items] == ["order_promoted", "order_waitlisted"]
        assert "puesto 2" in items[1]["text"] and "ZX81" in items[0]["text"]


async def test_a_replayed_refresh_token_tells_the_owner_even_on_a_full_day(backend, migrated, keys, provider):
    async with notifying_gateway(migrated, backend, keys, **channel_urls(provider, None), notify_daily_cap=1,
                                 refresh_reuse_grace_seconds=0) as gw:
        tokens = await register_and_login(gw.client, login="+591 72345678")
        me = (await gw.client.get("/api/auth/me", headers={"Authorization": f"Bearer {tokens['access_token']}"})).json()
        async with gw.db.session() as session:
            ana = await session.get(Account, me["id"])
        point = await gw.point()
        await gw.deliver("order.placed", placed(ana.id, point["id"]))  # uses up the day's one message
        assert (await gw.client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
                ).status_code == 200
        for _ in range(2):  # the thief, twice: one notification
            replay = await gw.client.post("/api/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
            assert replay.json()["error"]["code"] == "refresh_token_reused"
        await _make_due(gw.db)
        result = await gw.send()

        assert result.sent == 2 and result.skipped == 0
        assert [m["to"] for m in provider.received] == ["+59172345678", "+59172345678"]
        items = (await gw.client.get("/api/notifications", headers=gw.headers(ana))).json()["items"]
        assert [i["kind"] for i in items] == ["session_revoked", "order_placed"]


async def test_an_event_with_unusable_ids_is_handled_without_effect_rather_than_retried_forever(backend, migrated,
                                                                                              keys):
    async with notifying_gateway(migrated, backend, keys) as gw:
        ana = await gw.account()
        await gw.deliver("order.placed", {"order_id": 1, "consumer_account_id": "ana", "delivery_point_id": "x"})
        soon = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
        for day in ("pronto", soon):
            await gw.deliver("cycle.closed", {"cycle_id": 2, "delivery_date": day, "consignments": [{}, "x"],
                                              "bags": [{"consumer_account_id": -1}, "not a bag",
                                                       {"consumer_account_id": ana.id, "delivery_point_id": "x"}]})
        await gw.deliver("consignment.delivered", {"producer_id": None, "lines": [{"rejected_quantity": "mucho"}]})
        assert (await gw.client.get("/api/notifications", headers=gw.headers(ana))).json()["items"] == []


async def test_only_services_can_hand_the_gateway_an_event(backend, migrated, keys):
    async with notifying_gateway(migrated, backend, keys) as gw:
        ana = await gw.account()
        forged = {"type": "order.cancelled", "aggregate_id": "41", "source": "orders",
                  "payload": {"schema_version": 1, "order_id": 41, "consumer_account_id": ana.id, "total": "1"}}
        for headers in ({}, {"X-Service-Key": "guess", "X-Service-Name": "orders"}, gw.headers(ana)):
            r = await gw.client.post("/internal/events", json=forged, headers=headers)
            assert r.status_code == 403, r.text
        assert (await gw.client.get("/api/notifications", headers=gw.headers(ana))).json()["items"] == []


async def test_a_waiting_order_is_told_its_place_then_its_slot_once(backend, migrated, keys, provider):
    async with notifying_gateway(migrated, backend, keys, **channel_urls(provider, None)) as gw:
        point = await gw.point()
        ana = await gw.account(email=None)
        common = {"order_id": 60, "cycle_id": 3, "consumer_account_id": ana.id, "delivery_point_id": point["id"]}
        await gw.deliver("order.waitlisted", {**common, "position": 1, "total": "57.50"})
        # the slot frees: orders emits order.placed (payment due) and then order.promoted
        await gw.deliver("order.placed", placed(ana.id, point["id"], order_id=60, pickup_code="W4IT"))
        await gw.deliver("order.promoted", {**common, "pickup_code": "W4IT", "reason": "slot_freed",
                                            "delivery_date": "2026-11-28"})
        items = (await gw.client.get("/api/notifications", headers=gw.headers(ana))).json()["items"]
        assert [i["kind"] for i in items] == ["order_promoted", "order_waitlisted"]
        assert "W4IT" in items[0]["text"] and "sáb 28/11" in items[0]["text"]

        await gw.deliver("order.waitlisted", {**common, "order_id": 61, "position": 1, "total": "20.00"})
        await gw.deliver("order.cancelled", {**common, "order_id": 61, "total": "20.00", "reason": "waitlist_closed",
                                             "previous_status": "waitlisted"})
        [closed, *_] = (await gw.client.get("/api/notifications", headers=gw.headers(ana))).json()["items"]
        assert "#61 en lista de espera se canceló: el ciclo cerró" in closed["text"]
        assert "No se le cobra nada" in closed["text"]


async def test_orders_placed_arriving_together_tell_each_consumer_as_one_at_a_time_would(backend, migrated, keys):
    """A relay's batch of `order.placed` (its consumers read at once): each known consumer gets her
    message once, a repeat of the batch adds nothing, an unknown account or an unusable id is
    dropped without stopping the others, and a waiting order that got its slot stays quiet until
    `order.promoted`, as when the events come one by one."""
    from services.common.events import Envelope
    from services.common.inbox import EVENTS_BATCH_PATH

    async with notifying_gateway(migrated, backend, keys) as gw:
        point = await gw.point()
        ana = await gw.account(phone="+59171111111", email=None)
        beto = await gw.account(phone="+59172222222", email=None)
        carla = await gw.account(phone="+59173333333", email=None)
        await gw.deliver("order.waitlisted", {"order_id": 70, "cycle_id": 3, "consumer_account_id": carla.id,
                                              "delivery_point_id": point["id"], "position": 1, "total": "9.00"})

        def event(payload: dict, event_id: str | None = None) -> dict:
            # one aggregate: one lane, so the batch is handled in order on the test's one connection
            fields = {"type": "order.placed", "aggregate_id": "7", "source": "orders",
                      "payload": {"schema_version": 1, **payload}, **({"id": event_id} if event_id else {})}
            return Envelope(**fields).model_dump(mode="json")

        first = event(placed(ana.id, point["id"], order_id=71, pickup_code="ANA71"))
        batch = [first, event(placed(999_999, point["id"], order_id=72)),
                 event({**placed(beto.id, point["id"], order_id=73), "consumer_account_id": "beto"}),
                 event(placed(beto.id, point["id"], order_id=74, pickup_code="BETO74")),
                 event(placed(carla.id, point["id"], order_id=70, pickup_code="CARLA70"))]
        for events in (batch, [first, batch[3]]):  # then a batch of repeats
            r = await gw.client.post(EVENTS_BATCH_PATH, json={"events": events}, headers={
                "X-Service-Key": gw.app.state.service_secret, "X-Service-Name": "orders"})
            assert r.status_code == 200, r.text

        def inbox(account):
            return gw.client.get("/api/notifications", headers=gw.headers(account))

        [told_ana] = (await inbox(ana)).json()["items"]
        assert told_ana["kind"] == "order_placed" and "#71" in told_ana["text"] and "ANA71" in told_ana["text"]
        [told_beto] = (await inbox(beto)).json()["items"]
        assert "#74" in told_beto["text"] and "BETO74" in told_beto["text"]
        assert [i["kind"] for i in (await inbox(carla)).json()["items"]] == ["order_waitlisted"]
        health = (await gw.client.get("/healthz")).json()
        assert not (health.get("consumer") or {}).get("pending") and not (health.get("consumer") or {}).get("parked")


async def test_an_order_moved_to_a_point_with_room_names_the_new_point(backend, migrated, keys):
    async with notifying_gateway(migrated, backend, keys) as gw:
        point = await gw.point(name="Mercado Rodríguez")
        ana = await gw.account()
        await gw.deliver("order.promoted", {"order_id": 62, "consumer_account_id": ana.id,
                                            "delivery_point_id": point["id"], "pickup_code": "M0VE",
                                            "reason": "moved", "moved_from_point_id": 99,
                                            "delivery_date": "2026-11-28"})
        [item] = (await gw.client.get("/api/notifications", headers=gw.headers(ana))).json()["items"]
        assert item["text"].startswith("Su pedido #62 pasó a Mercado Rodríguez y está confirmado.")
        assert "M0VE" in item["text"] and len(item["text"]) <= 160


async def test_refunds_cycles_settlements_and_advance_decisions_reach_who_acts_on_them(backend, migrated, keys):
    from tests.payments.helpers import close_cycle, deliver, place_order

    async with notifying_gateway(migrated, backend, keys, with_payments=True) as gw:
        # Flora sold 2 kg at Bs 7,50 in cycle 3: her statement says she receives Bs 15,00
        await close_cycle(gw.payments_db, 3)
        await place_order(gw.payments_db, 41, 3, consumer=9, lines=[("41-1", 7, 70, "2", "7.50")])
        await deliver(gw.payments_db, 300, 3, producer=7, lines=[(70, "2", "2", "7.50")])
        ana = await gw.account()
        flora = await gw.account(role="producer", producer_id=7, phone="+59171111117", email="flora@example.bo")
        rosa = await gw.account(role="producer", producer_id=8, phone="+59171111118", email="rosa@example.bo")
        coordinator = await gw.account(role="coordinator", phone="+59171111119", email="coord@example.bo")
        financier = await gw.account(role="financier", phone="+59171111120", email="fondo@example.bo",
                                     financier_id=3)
        other_financier = await gw.account(role="financier", phone="+59171111121", email="banco@example.bo",
                                           financier_id=4)
        cycle = {"cycle_id": 3, "name": "Feria del sábado", "coordinator_account_id": coordinator.id,
                 "closes_at": "2026-11-27T16:00:00+00:00", "delivery_date": "2026-11-28"}
        await gw.deliver("payment.refunded", {"payment_id": 5, "order_id": 41, "cycle_id": 3,
                                              "consumer_account_id": ana.id, "amount": "32.00", "method": "cash"})
        await gw.deliver("cycle.opened", {**cycle, "opens_at": "2026-11-24T12:00:00+00:00"})
        await gw.deliver("cycle.closing_soon", {**cycle, "orders_placed": 23, "orders_waitlisted": 2})
        await gw.deliver("cycle.settled", {**cycle, "producer_ids": [7]})
        advance = {"advance_id": 9, "producer_id": 7, "financier_id": 3, "fund_id": 1, "policy_id": 1,
                   "principal": "500.00", "fee": "10.00", "expected_collection_on": "2026-12-12"}
        await gw.deliver("advance.requested", {**advance, "auto_approved": False})
        await gw.deliver("advance.approved", {**advance, "auto_approved": False})
        await gw.deliver("advance.approved", {**advance, "advance_id": 10, "auto_approved": True})

        async def inbox(account) -> dict[str, list[str]]:
            items = (await gw.client.get("/api/notifications", headers=gw.headers(account))).json()["items"]
            found: dict[str, list[str]] = {}
            for item in items:
                found.setdefault(item["kind"], []).append(item["text"])
            return found

        assert await inbox(ana) == {"refund_made": ["Le devolvimos Bs 32,00 de su pedido #41 (efectivo)."]}
        mine = await inbox(flora)
        assert set(mine) == {"cycle_opened", "settlement_ready", "advance_approved"}
        assert mine["settlement_ready"] == [
            "Su liquidación del ciclo Feria del sábado está lista: cobra Bs 15,00. Vea el detalle en Mercado Corto."]
        assert "pedidos hasta el vie 27/11 a las 12:00" in mine["cycle_opened"][0]
        assert mine["advance_approved"] == [  # the automatic approval is told by its disbursal instead
            "Su adelanto (pronto pago) de Bs 500,00 fue aprobado (comisión Bs 10,00). Le avisamos cuando se desembolse."]
        assert set(await inbox(rosa)) == {"cycle_opened"}  # she sold nothing in it: no settlement
        assert await inbox(coordinator) == {"cycle_closing_soon": [
            "El ciclo Feria del sábado cierra el vie 27/11 a las 12:00: 23 pedidos confirmados, 2 en lista de espera."]}
        assert await inbox(financier) == {"advance_requested": [
            "El adelanto #9 de la productora #7 espera su aprobación: Bs 500,00, comisión Bs 10,00."]}
        assert await inbox(other_financier) == {}


async def test_preferences_offer_the_kinds_of_the_accounts_role(backend, migrated, keys):
    async with notifying_gateway(migrated, backend, keys) as gw:
        ana = await gw.account()
        fondo = await gw.account(role="financier", phone="+59171111130", email="fondo@example.bo", financier_id=3)
        offered = {}
        for account in (ana, fondo):
            prefs = (await gw.client.get("/api/notifications/preferences", headers=gw.headers(account))).json()
            offered[account.role] = {k["kind"] for k in prefs["kinds"]}
        assert {"order_placed", "refund_made", "session_revoked"} <= offered["consumer"]
        assert not offered["consumer"] & {"advance_requested", "point_nearly_full", "cycle_opened"}
        assert offered["financier"] == {"advance_requested", "session_revoked"}
