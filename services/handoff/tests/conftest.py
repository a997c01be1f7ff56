"""Fixtures for the handoff's integration tests: a runtime on the session's real broker
and mongod (fresh database and consumer group per call)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
import pytest_asyncio
from kauppa.devkit.testing.http import asgi_client
from kauppa.handoff.api import router
from kauppa.handoff.bootstrap import build_runtime
from kauppa.handoff.settings import HandoffSettings
from kauppa.servicekit.clock import Clock
from kauppa.servicekit.http import create_app
from kauppa.servicekit.runtime import ServiceRuntime

StartHandoff = Callable[..., Awaitable[ServiceRuntime]]


@pytest.fixture
def start_handoff(settings_for: Any, runtimes: list[ServiceRuntime]) -> StartHandoff:
    """``await start_handoff(clock=..., settings=..., **setting_overrides)``."""

    async def start(
        clock: Clock | None = None, settings: HandoffSettings | None = None, **overrides: Any
    ) -> ServiceRuntime:
        values: dict[str, Any] = {"business_hours_only": False}
        values.update(overrides)
        s = settings or settings_for(HandoffSettings, service_name="handoff", **values)
        rt = build_runtime(s, clock=clock)
        runtimes.append(rt)
        await rt.start()
        return rt

    return start


@pytest_asyncio.fixture
async def service(
    start_handoff: StartHandoff,
) -> AsyncIterator[tuple[ServiceRuntime, httpx.AsyncClient]]:
    """A started handoff and an HTTP client on its API."""
    rt = await start_handoff()
    app = create_app(rt, [router], manage_runtime=False)
    async with asgi_client(app) as client:
        yield rt, client
