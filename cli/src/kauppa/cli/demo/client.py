"""The demo's HTTP client: calls as sellers' tools and ops would make them, riding out a
service restart; ``DemoError`` when the demo cannot go on."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from kauppa.servicekit.auth import issue_token
from kauppa.servicekit.settings import ServiceSettings


class DemoError(Exception):
    """The demo cannot go on; the message says why and what to do."""


RETRY_STATUSES = frozenset({502, 503, 504})  # a proxy or a service on its way up or down


async def request_riding_out_restarts(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    headers: dict[str, str],
    body: Any = None,
    retry_for: float = 60.0,
    first_delay: float = 0.25,
    max_delay: float = 2.0,
) -> httpx.Response:
    """One HTTP call that rides out a service restart: connection errors and 502/503/504
    are retried with backoff for up to ``retry_for`` seconds, with the same headers, so
    the same ``Idempotency-Key`` (a call that took effect before the service went away
    is answered from the first result, not done twice). A 500 is retried twice. The last
    answer is returned; a connection error still failing after ``retry_for`` is raised."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + retry_for
    delay, server_errors = first_delay, 0
    while True:
        try:
            r = await client.request(method, url, json=body, headers=headers)
        except httpx.TransportError:
            if loop.time() + delay > deadline:
                raise
        else:
            if r.status_code == 500 and server_errors < 2:
                server_errors += 1
            elif r.status_code not in RETRY_STATUSES or loop.time() + delay > deadline:
                return r
        await asyncio.sleep(delay)
        delay = min(delay * 2, max_delay)


@dataclass
class Api:
    """HTTP calls as sellers' tools and ops would make them, with an Idempotency-Key so a
    retried call (a network hiccup, a service restarting) changes nothing."""

    client: httpx.AsyncClient
    urls: dict[str, str]
    parallel: asyncio.Semaphore
    tokens: dict[str, str] = field(default_factory=dict)
    retry_for: float = 60.0  # rides out a service restart
    max_delay: float = 2.0  # between retries

    def token(self, subject: str, role: str) -> str:
        key = f"{role}:{subject}"
        if key not in self.tokens:
            self.tokens[key] = issue_token(ServiceSettings(), subject, [role])
        return self.tokens[key]

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        *,
        as_: tuple[str, str],
        body: Any = None,
        ok: tuple[int, ...] = (200, 201, 202),
    ) -> httpx.Response:
        headers = {
            "Authorization": f"Bearer {self.token(*as_)}",
            "Idempotency-Key": uuid.uuid4().hex,
        }
        url = f"{self.urls[service]}{path}"
        async with self.parallel:
            try:
                r = await request_riding_out_restarts(
                    self.client,
                    method,
                    url,
                    headers=headers,
                    body=body,
                    retry_for=self.retry_for,
                    max_delay=self.max_delay,
                )
            except httpx.TransportError as exc:
                raise DemoError(
                    f"{service} is not reachable at {url} (for {self.retry_for:g} s): {exc}"
                ) from exc
        if r.status_code not in ok:
            raise DemoError(f"{method} {url} answered {r.status_code}: {r.text[:300]}")
        return r
