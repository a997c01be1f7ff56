"""A lean HTTP/1.1 client for the sender: POST a body, read the status and headers,
keep the connection alive for the next one. One pool per subscription.

Why not httpx: profiled under ``make bench``, httpx/httpcore spent most of the sender's
CPU outside the network: its pool scans every connection for every request (O(n²) with
a few hundred in flight) and each lock it sets up tries ``import sniffio`` (absent here),
a full ``sys.path`` search each time. A webhook needs none of what it adds: no
redirects (not followed), cookies, proxies, auth flows, HTTP/2 or streaming.

Scope: ``http`` and ``https`` (the system's CA store, hostname checked), request bodies
with ``content-length``, responses with ``content-length``, ``chunked`` or
read-until-close bodies (read, at most ``MAX_BODY`` kept: a receiver's answer is not
used beyond its status and ``Retry-After``), ``connection: close`` honoured, 1xx
interim answers skipped. A connection that was idle and fails before the first byte of
the answer is retried once on a fresh one (the receiver closed it meanwhile); the
webhook-id lets a receiver drop a rare repeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass, field
from urllib.parse import urlsplit

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY = 64 * 1024


class HttpError(Exception):
    """The exchange failed (connection, protocol); the message says how."""


class ResponseTimeout(HttpError):
    """No complete answer within the timeout."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    headers: dict[str, str]  # names lower-cased; a repeated header keeps the last value


@dataclass(eq=False)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    used: bool = False

    def usable(self) -> bool:
        return not (self.writer.is_closing() or self.reader.at_eof())

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


@dataclass
class Pool:
    """Keep-alive connections to one origin, at most ``size`` open at a time."""

    url: str
    size: int
    user_agent: str = "kauppa-webhooks"
    idle: list[_Connection] = field(default_factory=list)
    _ssl: ssl.SSLContext | None = None

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise HttpError(f"not an http(s) URL: {self.url}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        default_port = self.port == (443 if parts.scheme == "https" else 80)
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.host_header = host if default_port else f"{host}:{self.port}"
        if parts.scheme == "https":
            self._ssl = ssl.create_default_context()
        self._slots = asyncio.Semaphore(self.size)

    async def _open(self) -> _Connection:
        reader, writer = await asyncio.open_connection(
            self.host,
            self.port,
            ssl=self._ssl,
            server_hostname=self.host if self._ssl else None,
            limit=MAX_HEADER_BYTES,
        )
        return _Connection(reader, writer)

    def _head(self, headers: dict[str, str], length: int) -> bytes:
        lines = [
            f"POST {self.target} HTTP/1.1",
            f"host: {self.host_header}",
            f"user-agent: {self.user_agent}",
            f"content-length: {length}",
            *(f"{k}: {v}" for k, v in headers.items()),
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    async def post(self, body: bytes, headers: dict[str, str], timeout: float) -> Response:
        """POST ``body``; raises ``ResponseTimeout`` or ``HttpError``."""
        try:
            async with asyncio.timeout(timeout), self._slots:
                return await self._exchange(self._head(headers, len(body)) + body)
        except TimeoutError as exc:
            raise ResponseTimeout("no answer within the timeout") from exc

    async def _exchange(self, request: bytes) -> Response:
        while self.idle:
            conn = self.idle.pop()
            if not conn.usable():
                conn.close()
                continue
            try:
                return await self._on(conn, request)
            except _NothingBack:
                continue  # closed by the receiver while idle: try a fresh connection
        try:
            conn = await self._open()
        except OSError as exc:
            raise HttpError(f"connect: {type(exc).__name__}: {exc}") from exc
        try:
            return await self._on(conn, request)
        except _NothingBack as exc:
            raise HttpError(f"the connection closed without an answer: {exc}") from exc

    async def _on(self, conn: _Connection, request: bytes) -> Response:
        keep = False
        got_bytes = False
        try:
            conn.writer.write(request)
            await conn.writer.drain()
            while True:
                try:
                    line = await conn.reader.readuntil(b"\r\n")
                except asyncio.IncompleteReadError as exc:
                    if not exc.partial:
                        raise _NothingBack("no status line") from exc
                    raise
                got_bytes = True
                status, version = _status(line)
                headers = await _headers(conn.reader)
                if 100 <= status < 200:
                    continue  # an interim answer; the final one follows
                break
            keep = await _read_body(conn.reader, status, version, headers)
            return Response(status, headers)
        except (ConnectionError, OSError) as exc:
            if not got_bytes and conn.used:
                raise _NothingBack(str(exc)) from exc
            raise HttpError(f"{type(exc).__name__}: {exc}") from exc
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            raise HttpError(f"bad answer: {type(exc).__name__}: {exc}"[:300]) from exc
        finally:
            if keep:
                conn.used = True
                self.idle.append(conn)
            else:
                conn.close()

    async def aclose(self) -> None:
        while self.idle:
            self.idle.pop().close()


class _NothingBack(Exception):
    """A reused connection gave no answer at all."""


def _status(line: bytes) -> tuple[int, str]:
    parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise ValueError(f"not an HTTP status line: {line[:80]!r}")
    return int(parts[1]), parts[0]


async def _headers(reader: asyncio.StreamReader) -> dict[str, str]:
    headers: dict[str, str] = {}
    while True:
        line = await reader.readuntil(b"\r\n")
        if line == b"\r\n":
            return headers
        name, sep, value = line.decode("latin-1").partition(":")
        if not sep:
            raise ValueError(f"bad header line: {line[:80]!r}")
        headers[name.strip().lower()] = value.strip()


async def _read_body(
    reader: asyncio.StreamReader, status: int, version: str, headers: dict[str, str]
) -> bool:
    """Read (and drop) the body; True when the connection may be used again."""
    close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
    if status in (204, 304):
        return not close
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
            if size == 0:
                await _headers(reader)  # trailers, up to the empty line
                return not close
            await reader.readexactly(size + 2)
    if "content-length" in headers:
        length = int(headers["content-length"])
        if length > MAX_BODY:
            return False  # not worth reading: close instead
        await reader.readexactly(length)
        return not close
    # Neither: the body runs until the receiver closes the connection.
    await reader.read(MAX_BODY)
    return False
