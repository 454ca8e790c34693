"""The server every process runs (services/common/serving): a response goes to the socket in one
write, and nothing is lost, reordered or held back on the way."""

import asyncio
import socket
from contextlib import asynccontextmanager

import httpx
import uvicorn
from uvicorn.importer import import_from_string
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from services.common.serving import FLUSH_BYTES, CorkedHttpProtocol, uvicorn_command

CHUNK = 16 * 1024


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    if scope["path"] == "/stream":  # a large body, streamed without pausing between chunks
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        for n in range(20):
            await send({"type": "http.response.body", "body": bytes([65 + n]) * CHUNK, "more_body": True})
        return await send({"type": "http.response.body", "body": b""})
    body = f"pedido {scope['path'].rsplit('/', 1)[-1]}".encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def counting(protocol_class, writes: list[bytes]):
    """The protocol, with each write that reaches the socket's transport recorded."""

    class Counting(protocol_class):
        def connection_made(self, transport):
            socket_write = transport.write

            def write(data):
                writes.append(bytes(data))
                socket_write(data)

            transport.write = write
            super().connection_made(transport)

    return Counting


@asynccontextmanager
async def served(protocol_class):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, http=protocol_class, lifespan="off", log_config=None,
                                          log_level="warning", timeout_graceful_shutdown=1))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            assert not task.done(), "the server stopped at start"
            await asyncio.sleep(0.01)
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await task
        sock.close()


async def raw_exchange(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 10)  # until the server closes the connection
    writer.close()
    return answer


async def test_a_response_reaches_the_socket_in_one_write_where_plain_uvicorn_makes_two():
    for protocol_class, expected in ((CorkedHttpProtocol, 1), (HttpToolsProtocol, 2)):
        writes: list[bytes] = []
        async with served(counting(protocol_class, writes)) as port, \
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            answer = await client.get("/pedidos/7")
        assert answer.status_code == 200 and answer.text == "pedido 7"
        assert len(writes) == expected, (protocol_class.__name__, writes)
    assert writes[0].startswith(b"HTTP/1.1 200 OK") and b"".join(writes).endswith(b"\r\n\r\npedido 7")


async def test_a_large_streamed_body_arrives_whole_and_in_order_without_being_held_in_memory():
    writes: list[bytes] = []
    async with served(counting(CorkedHttpProtocol, writes)) as port, \
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        answer = await client.get("/stream")
    assert answer.status_code == 200
    assert answer.content == b"".join(bytes([65 + n]) * CHUNK for n in range(20))
    assert len(writes) > 1 and max(len(w) for w in writes) < FLUSH_BYTES + CHUNK + 64


async def test_pipelined_requests_and_a_closing_one_get_every_answer_before_the_socket_closes():
    async with served(CorkedHttpProtocol) as port:
        answer = await raw_exchange(port, b"GET /pedidos/1 HTTP/1.1\r\nHost: x\r\n\r\n"
                                          b"GET /pedidos/2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert answer.count(b"HTTP/1.1 200 OK") == 2
    assert answer.index(b"pedido 1") < answer.index(b"pedido 2") and answer.endswith(b"pedido 2")


def test_every_process_is_started_with_the_corked_protocol():
    command = uvicorn_command("services.orders.app:create_app", host="127.0.0.1", port=8002, workers=2,
                              log_level="warning", graceful_seconds=5, proxy_headers=False)
    assert import_from_string(command[command.index("--http") + 1]) is CorkedHttpProtocol
    assert command[command.index("--workers") + 1] == "2" and "--no-proxy-headers" in command
