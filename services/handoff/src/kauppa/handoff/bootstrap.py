"""The composition root: settings -> SLA policy, handlers, runtime, HTTP app."""

from __future__ import annotations

from fastapi import FastAPI
from kauppa.handoff.api import router
from kauppa.handoff.handlers import COMMAND_EMITS, build_handlers
from kauppa.handoff.repository import INDEXES, migrate_roster
from kauppa.handoff.settings import HandoffSettings
from kauppa.servicekit.clock import Clock
from kauppa.servicekit.http import create_app
from kauppa.servicekit.runtime import ServiceRuntime
from kauppa.servicekit.settings import ServiceSettings


def build_runtime(settings: HandoffSettings, clock: Clock | None = None) -> ServiceRuntime:
    policy = settings.sla_policy()
    handlers, timer_handlers = build_handlers(policy)
    return ServiceRuntime(
        settings,
        handlers,
        timer_handlers=timer_handlers,
        indexes=INDEXES,
        emits=COMMAND_EMITS,
        migrations=[migrate_roster],
        clock=clock,
    )


def build_app(settings: ServiceSettings) -> FastAPI:
    assert isinstance(settings, HandoffSettings)
    return create_app(
        build_runtime(settings),
        [router],
        description="Qualified leads to the right seller; verdicts and quality back to the source.",
    )
