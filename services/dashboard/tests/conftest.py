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


@pytest.fixture
def start_handoff(settings_for: Any, runtimes: list[ServiceRuntime]) -> StartDashboard:
    """``await start_handoff()``: a real handoff (the what-if's other end), started and
    stopped after the test."""
    from kauppa.handoff.bootstrap import build_runtime as build_handoff
    from kauppa.handoff.settings import HandoffSettings

    async def start(**overrides: Any) -> ServiceRuntime:
        overrides.setdefault("business_hours_only", False)
        runtime = build_handoff(settings_for(HandoffSettings, service_name="handoff", **overrides))
        runtimes.append(runtime)
        await runtime.start()
        return runtime

    return start
