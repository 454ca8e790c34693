"""Notifications: the gateway's room that tells people what happened, in the app and on their phone.

It reacts to the services' events (delivered to the gateway's `/internal/events` like to any
subscriber, deduplicated by the kernel's inbox) and never reads another service's tables. For each
event it writes, per recipient account, one inbox entry ("Avisos") and one delivery per channel the
account chose (WhatsApp, SMS, e-mail through Apprise); a background duty sends the deliveries with
retries, quiet hours and a daily cap. See docs/notifications.md.

Modules: `kinds` (what is sent, to whom), `messages` (the Spanish texts), `recipients` (accounts
of an event), `directory` (point names and hours, from the delivery service), `record` (inbox rows
and deliveries), `schedule` (quiet hours, Bolivian day), `channels` (Apprise), `sender` (the outbox
loop), `preferences`, `inbox`, `handlers` (events -> messages), `api` (HTTP).
"""
