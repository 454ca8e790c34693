"""Free TCP ports on 127.0.0.1 for the processes a test or a benchmark starts.

Ports asked for together are held open until all are chosen, so no two of them are the same: a port
closed and asked for again can be handed out twice, and two processes of one platform on one port
means one of them answers for the other (a gateway's /healthz answered by the catalogue).
"""

import contextlib
import socket


def free_ports(count: int) -> list[int]:
    with contextlib.ExitStack() as held:
        ports = []
        for _ in range(count):
            sock = held.enter_context(socket.socket())
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
        return ports


def free_port() -> int:
    """One TCP port that nothing listens on right now."""
    return free_ports(1)[0]
