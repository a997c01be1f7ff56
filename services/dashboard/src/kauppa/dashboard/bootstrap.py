"""The composition root: settings -> handler table, runtime (with the health board, its
client closed at stop), HTTP app. Consumes every topic, emits nothing, runs no timers."""

from __future__ import annotations

from fastapi import FastAPI
from kauppa.dashboard.api import router
from kauppa.dashboard.handlers import EVENTS, Deps
from kauppa.dashboard.health import HealthBoard, attach_board
from kauppa.dashboard.repository import INDEXES
from kauppa.dashboard.settings import DashboardSettings
from kauppa.servicekit.clock import Clock
from kauppa.servicekit.http import create_app
from kauppa.servicekit.routes import handlers_from
from kauppa.servicekit.runtime import ServiceRuntime
from kauppa.servicekit.settings import ServiceSettings


def build_runtime(settings: DashboardSettings, clock: Clock | None = None) -> ServiceRuntime:
    runtime = ServiceRuntime(settings, handlers_from(EVENTS, Deps()), indexes=INDEXES, clock=clock)
    board = HealthBoard(
        settings.service_urls, settings.scrape_timeout_seconds, settings.scrape_cache_seconds
    )
    attach_board(runtime, board)
    return runtime


def build_app(settings: ServiceSettings) -> FastAPI:
    assert isinstance(settings, DashboardSettings)
    return create_app(
        build_runtime(settings),
        [router],
        title="Kauppa ops dashboard",
        description="Read models from every topic; funnel, lead quality, SLA, follow-up, health.",
    )
