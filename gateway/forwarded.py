"""Whose address is this? `X-Forwarded-For` is believed only from our own reverse proxies.

Rate limits and the login throttle count per client address, so a client that could name its own
address in `X-Forwarded-For` could dodge both (or frame someone else). The setting
`FORWARDED_ALLOW_IPS` (comma-separated addresses or networks, `*` for any; default none) lists the
proxies in front of the gateway: only for a connection from one of them are `X-Forwarded-For`
(the right-most address that is not itself a trusted proxy) and `X-Forwarded-Proto` taken.
Whatever the outcome, the incoming `X-Forwarded-*` headers are dropped here, so nothing behind this
layer (the proxy to the services, the logs) reads a claim that was not checked.

Run the gateway with uvicorn's own header handling off (`--no-proxy-headers`, as `make run` does):
uvicorn otherwise trusts 127.0.0.1 by default, before this layer sees the connection.
"""

import ipaddress

FORWARDED_HEADERS = frozenset({b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host",
                               b"x-forwarded-prefix", b"forwarded"})
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_allowed(setting: str) -> list[Network] | None:
    """The trusted networks; None means any address (`*`)."""
    networks: list[Network] = []
    for part in (p.strip() for p in setting.split(",")):
        if not part:
            continue
        if part == "*":
            return None
        networks.append(ipaddress.ip_network(part, strict=False))
    return networks


def _trusted(address: str, networks: list[Network] | None) -> bool:
    if networks is None:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def client_address(peer: str, forwarded_for: str | None, networks: list[Network] | None) -> str:
    """The client's address: the peer, unless the peer is a trusted proxy that says otherwise."""
    if not forwarded_for or not _trusted(peer, networks):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            return hop
    return hops[0] if hops else peer


class TrustedProxyHeaders:
    """Pure ASGI, outermost in the gateway: sets `scope["client"]` (and the scheme) from a trusted
    proxy's headers, and removes every incoming X-Forwarded-* header."""

    def __init__(self, app, *, allow: str):
        self.app = app
        self.networks = parse_allowed(allow)

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        forwarded_for = proto = None
        kept = []
        for key, value in scope["headers"]:
            if key in FORWARDED_HEADERS:
                if key == b"x-forwarded-for":
                    forwarded_for = f"{forwarded_for}, {value.decode('latin-1')}" if forwarded_for \
                        else value.decode("latin-1")
                elif key == b"x-forwarded-proto":
                    proto = value.decode("latin-1").strip().lower()
                continue
            kept.append((key, value))
        scope = dict(scope, headers=kept)
        client = scope.get("client")
        peer = client[0] if client else ""
        if peer and _trusted(peer, self.networks):
            scope["client"] = (client_address(peer, forwarded_for, self.networks), 0)
            if proto in ("http", "https"):
                scope["scheme"] = proto
        return await self.app(scope, receive, send)
