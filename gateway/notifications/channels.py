"""WhatsApp, SMS and e-mail through Apprise: one URL per channel for the whole deployment.

The URL names the provider and the credentials, with the recipient as a placeholder:
`{phone}` (E.164, `+59171234567`), `{phone_digits}` (`59171234567`) or `{email}`; e.g.
`whatsapp://TOKEN@PHONE_NUMBER_ID/{phone_digits}`, `mailtos://user:pass@smtp.example.bo?to={email}`.
A channel without a URL is not offered: nothing configured means inbox only.
"""

import asyncio
import logging
from urllib.parse import quote

from gateway.notifications.kinds import CHANNELS


def _target(template: str, address: str) -> str:
    return (template.replace("{phone_digits}", address.lstrip("+"))
            .replace("{phone}", quote(address, safe=""))
            .replace("{email}", quote(address, safe="@")))


class Channels:
    def __init__(self, urls: dict[str, str]):
        self.urls = {channel: url.strip() for channel, url in urls.items() if channel in CHANNELS and url.strip()}

    @property
    def configured(self) -> frozenset[str]:
        return frozenset(self.urls)

    async def send(self, *, channel: str, address: str, title: str, text: str) -> str | None:
        """Hand one message to the provider: None when it took it, else the reason it gave."""
        template = self.urls.get(channel)
        if template is None:
            return f"the {channel} channel is not configured"
        return await asyncio.to_thread(_notify, _target(template, address), title, text)


def _notify(url: str, title: str, text: str) -> str | None:
    import apprise  # loaded by the first message sent: a deployment without channels never needs it

    sender = apprise.Apprise()
    if not sender.add(url):
        return "the channel URL is not a valid Apprise URL"
    with apprise.LogCapture(level=logging.WARNING) as captured:
        ok = sender.notify(body=text, title=title)
    if ok:
        return None
    reason = " ".join(line.split(" - ", 2)[-1] for line in captured.getvalue().splitlines() if line.strip())
    return (reason or "the provider refused the message")[:1000]
