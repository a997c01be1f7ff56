"""The composition root: settings -> handlers, runtime, HTTP app."""

from __future__ import annotations

from fastapi import FastAPI
from kauppa.dashboard.api import router
from kauppa.dashboard.runtime import DashboardRuntime
from kauppa.dashboard.settings import DashboardSettings
from kauppa.servicekit.clock import Clock
from kauppa.servicekit.http import create_app
from kauppa.servicekit.settings import ServiceSettings


def build_runtime(settings: DashboardSettings, clock: Clock | None = None) -> DashboardRuntime:
    """Consumes every topic, emits nothing, runs no timers."""
    return DashboardRuntime(settings, clock=clock)


def build_app(settings: ServiceSettings) -> FastAPI:
    assert isinstance(settings, DashboardSettings)
    return create_app(
        build_runtime(settings),
        [router],
        title="Kauppa ops dashboard",
        description="Read models from every topic; funnel, lead quality, SLA, follow-up, health.",
    )
