"""Fixtures for the dashboard's integration tests: a dashboard runtime on the session's
real broker and mongod (fresh database and consumer group), with its HTTP app."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from kauppa.dashboard.bootstrap import build_runtime
from kauppa.dashboard.settings import DashboardSettings
from kauppa.servicekit.runtime import ServiceRuntime

StartDashboard = Callable[..., Awaitable[ServiceRuntime]]


@pytest.fixture
def start_dashboard(settings_for: Any, runtimes: list[ServiceRuntime]) -> StartDashboard:
    """``await start_dashboard(**setting_overrides)``: started, stopped after the test."""

    async def start(**overrides: Any) -> ServiceRuntime:
        overrides.setdefault("service_urls", {})
        settings = settings_for(DashboardSettings, service_name="dashboard", **overrides)
        runtime = build_runtime(settings)
        runtimes.append(runtime)
        await runtime.start()
        return runtime

    return start
