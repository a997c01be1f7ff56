"""Fixtures for the handoff's integration tests: a runtime on the session's real broker
and mongod (fresh database and consumer group per call)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from kauppa.handoff.bootstrap import build_runtime
from kauppa.handoff.settings import HandoffSettings
from kauppa.servicekit.clock import Clock
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
