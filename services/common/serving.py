"""How every process of the platform is served: uvicorn with its httptools protocol, each response
written to the socket once.

uvicorn writes a response's status line and headers when the app sends `http.response.start` and
its body when it sends `http.response.body`: two `write` system calls, and the peer (the gateway, a
service calling another, a phone's connection) wakes up to read half a response. On the 2-core
machine the bench runs on, a write that wakes its reader costs tens of microseconds, and each order
crosses four responses. `CorkedHttpProtocol` gives uvicorn a transport that gathers what is written
during one turn of the event loop and hands it to the socket in one write at the end of that turn
(or at once past `FLUSH_BYTES`, so a large streamed body is not held in memory). Measured with
`python -m bench orders` in six interleaved pairs: 0.1–0.5 ms less service CPU per order (about
0.2 typically), and a lower p99 in five pairs of six (366–464 ms against 431–481).

`uvicorn_command()` is the one command line that starts a service (infra/run.py, the benchmarks,
the browser tests), so all of them run the same server.
"""

import asyncio
import sys

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

FLUSH_BYTES = 64 * 1024


class CorkedTransport:
    """Writes are gathered until the event loop's current turn ends (or FLUSH_BYTES are waiting), then
    go out in one write; everything else is the socket's transport itself. Closing sends what is
    waiting first; aborting drops it, as aborting the transport does."""

    __slots__ = ("_loop", "_size", "_transport", "_waiting")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop):
        self._transport = transport
        self._loop = loop
        self._waiting: list[bytes] = []
        self._size = 0

    def write(self, data: bytes) -> None:
        if not data:
            return
        if not self._waiting:
            self._loop.call_soon(self.flush)
        self._waiting.append(data)
        self._size += len(data)
        if self._size >= FLUSH_BYTES:
            self.flush()

    def writelines(self, lines) -> None:
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        if not self._waiting:
            return
        waiting, self._waiting, self._size = self._waiting, [], 0
        if not self._transport.is_closing():
            self._transport.write(waiting[0] if len(waiting) == 1 else b"".join(waiting))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._waiting, self._size = [], 0
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._size + self._transport.get_write_buffer_size()

    def __getattr__(self, name: str):
        return getattr(self._transport, name)


class CorkedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, writing through a CorkedTransport (flow control still watches the
    socket's own transport)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = CorkedTransport(transport, self.loop)


def uvicorn_command(app_factory: str, *, host: str, port: int, workers: int | str = 1,
                    log_level: str | None = None, graceful_seconds: int | None = None,
                    proxy_headers: bool = True) -> list[str]:
    """The command that serves the app factory `module:function`: uvicorn with CorkedHttpProtocol,
    without uvicorn's access log (the services log their own requests, services/common/observability)."""
    command = [sys.executable, "-m", "uvicorn", "--factory", app_factory, "--host", host, "--port", str(port),
               "--http", f"{__name__}:CorkedHttpProtocol", "--no-access-log"]
    if str(workers) != "1":
        command += ["--workers", str(workers)]
    if graceful_seconds is not None:
        command += ["--timeout-graceful-shutdown", str(graceful_seconds)]
    if log_level:
        command += ["--log-level", log_level]
    if not proxy_headers:
        command.append("--no-proxy-headers")
    return command
