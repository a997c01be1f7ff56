"""The sender's HTTP/1.1 client against a real loopback server that answers in the ways
receivers do: content-length, chunked, read-until-close, interim 100, connection: close,
and closing a kept-alive connection while it is idle."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from kauppa.webhooks.http1 import HttpError, Pool, ResponseTimeout

ANSWERS = {
    b"/length": b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
    b"/chunked": b"HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n"
    b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
    b"/continue": b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
    b"/retry": b"HTTP/1.1 429 Too Many\r\nRetry-After: 7\r\ncontent-length: 0\r\n\r\n",
    b"/close": b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end",
    b"/idle-close": b"HTTP/1.1 204 No Content\r\n\r\n",
    b"/slow": b"HTTP/1.1 204 No Content\r\n\r\n",
}


class Server:
    def __init__(self) -> None:
        self.connections = 0
        self.bodies: list[bytes] = []
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ")[1]
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                self.bodies.append(await reader.readexactly(length))
                if path == b"/slow":
                    await asyncio.sleep(5)
                writer.write(ANSWERS[path])
                await writer.drain()
                if path in (b"/close", b"/idle-close"):
                    break  # /idle-close: closes after answering, without saying so
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest_asyncio.fixture
async def server() -> AsyncIterator[Server]:
    srv = Server()
    s = await asyncio.start_server(srv.handle, "127.0.0.1", 0)
    srv.port = s.sockets[0].getsockname()[1]
    async with s:
        yield srv


def pool(server: Server, path: str) -> Pool:
    return Pool(f"http://127.0.0.1:{server.port}{path}", 2)


@pytest.mark.parametrize(
    ("path", "status"),
    [("/length", 200), ("/chunked", 201), ("/continue", 204), ("/retry", 429), ("/close", 200)],
)
async def test_each_kind_of_answer_is_read_and_the_connection_kept_when_it_may_be(
    server: Server, path: str, status: int
) -> None:
    p = pool(server, path)
    for i in range(3):
        r = await p.post(f"body-{i}".encode(), {"webhook-id": "x"}, timeout=2)
        assert r.status == status
    assert server.bodies == [b"body-0", b"body-1", b"body-2"]
    assert server.connections == (3 if path == "/close" else 1)
    if path == "/retry":
        assert r.headers["retry-after"] == "7"
    await p.aclose()


async def test_a_connection_closed_while_idle_is_replaced(server: Server) -> None:
    p = pool(server, "/idle-close")
    for _ in range(3):
        assert (await p.post(b"{}", {}, timeout=2)).status == 204
        await asyncio.sleep(0.05)  # the server closes it meanwhile
    assert server.connections == 3 and len(server.bodies) == 3


async def test_no_answer_in_time_and_no_server_are_errors(server: Server) -> None:
    with pytest.raises(ResponseTimeout):
        await pool(server, "/slow").post(b"{}", {}, timeout=0.3)
    dead = Pool("http://127.0.0.1:1/x", 1)
    with pytest.raises(HttpError, match="connect"):
        await dead.post(b"{}", {}, timeout=2)
