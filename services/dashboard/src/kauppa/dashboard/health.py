"""Scrape the services' own /health/ready and /metrics over HTTP. A service that does
not answer shows as down; the dashboard never fails because another service is away.
The runtime's board is kept with it by bootstrap (``attach_board``) and found by the
API through ``health_board_of``."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import httpx
from kauppa.dashboard.domain.health import ServiceHealth, service_health
from prometheus_client import generate_latest

if TYPE_CHECKING:
    from kauppa.servicekit.runtime import ServiceRuntime


async def scrape(client: httpx.AsyncClient, service: str, url: str) -> ServiceHealth:
    base = url.rstrip("/")
    try:
        ready = await client.get(f"{base}/health/ready")
    except httpx.HTTPError as exc:
        return service_health(
            service,
            url,
            ready_status=None,
            ready_body=None,
            metrics_text=None,
            error=f"{type(exc).__name__}: {exc}"[:200],
        )
    try:
        body: object = ready.json()
    except ValueError:
        body = None
    metrics_text: str | None = None
    error: str | None = None
    try:
        metrics = await client.get(f"{base}/metrics")
        if metrics.status_code == 200:
            metrics_text = metrics.text
        else:
            error = f"/metrics answered {metrics.status_code}"
    except httpx.HTTPError as exc:
        error = f"/metrics: {type(exc).__name__}"
    return service_health(
        service,
        url,
        ready_status=ready.status_code,
        ready_body=body,
        metrics_text=metrics_text,
        error=error,
    )


async def own_health(runtime: ServiceRuntime) -> ServiceHealth:
    """The dashboard itself, asked in-process (it may not be listening on its port in
    tests, and asking yourself over HTTP proves nothing more)."""
    checks = await runtime.readiness()
    await runtime.refresh_gauges()
    text = generate_latest(runtime.metrics.registry).decode()
    ok = all(v == "ok" for v in checks.values())
    return service_health(
        runtime.name,
        f"http://{runtime.settings.http_host}:{runtime.settings.http_port}",
        ready_status=200 if ok else 503,
        ready_body={"checks": checks},
        metrics_text=text,
    )


class HealthBoard:
    """Scrapes every service concurrently, cached briefly so many open browsers polling
    every two seconds cost the services one scrape per interval. One HTTP client (and
    its connection pool) serves every scrape until ``aclose``."""

    def __init__(self, urls: dict[str, str], timeout: float, cache_seconds: float) -> None:
        self.urls, self.timeout, self.cache_seconds = dict(urls), timeout, cache_seconds
        self._cached: tuple[float, list[ServiceHealth]] | None = None
        self._lock = asyncio.Lock()
        self._client: httpx.AsyncClient | None = None

    async def services(self) -> list[ServiceHealth]:
        async with self._lock:
            now = time.monotonic()
            if self._cached and now - self._cached[0] < self.cache_seconds:
                return self._cached[1]
            if self._client is None:
                self._client = httpx.AsyncClient(timeout=self.timeout)
            client = self._client
            found = await asyncio.gather(
                *(scrape(client, name, url) for name, url in self.urls.items())
            )
            self._cached = (time.monotonic(), list(found))
            return list(found)

    async def aclose(self) -> None:
        """Close the client (a later scrape opens a new one)."""
        async with self._lock:
            client, self._client = self._client, None
        if client is not None:
            await client.aclose()


_BOARD = "_health_board"


def attach_board(runtime: ServiceRuntime, board: HealthBoard) -> None:
    """Keep the board with the runtime (bootstrap); its client closes at the runtime's stop."""
    setattr(runtime, _BOARD, board)
    runtime.on_stop(board.aclose)


def health_board_of(runtime: ServiceRuntime) -> HealthBoard:
    board = getattr(runtime, _BOARD, None)
    assert isinstance(board, HealthBoard), "a dashboard runtime has a health board"
    return board
