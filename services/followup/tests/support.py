"""Shared helpers for the followup integration tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
from kauppa.devkit.testing.http import asgi_client, bearer
from kauppa.followup.api import router
from kauppa.followup.bootstrap import build_runtime
from kauppa.followup.settings import FollowupSettings
from kauppa.servicekit.clock import ManualClock
from kauppa.servicekit.http import create_app
from kauppa.servicekit.runtime import ServiceRuntime

START = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)  # a Thursday


async def started(
    settings_for: Any, runtimes: list[Any], clock: ManualClock, **overrides: Any
) -> ServiceRuntime:
    overrides.setdefault("audit_interval_minutes", 60 * 24 * 365)  # tests run it on demand
    overrides.setdefault("digest_enabled", False)  # no digest timers beside a test's own
    settings = settings_for(FollowupSettings, service_name="followup", **overrides)
    rt = build_runtime(settings, clock=clock)
    runtimes.append(rt)
    await rt.start()
    return rt


def http(rt: ServiceRuntime) -> httpx.AsyncClient:
    return asgi_client(create_app(rt, [router], manage_runtime=False))


def token(
    rt: ServiceRuntime, subject: str, *roles: str, organisation_id: str | None = None
) -> dict[str, str]:
    """A bearer header; with ``organisation_id``, a token bound to that organisation."""
    return bearer(rt.settings, subject, *roles, organisation_id=organisation_id)
