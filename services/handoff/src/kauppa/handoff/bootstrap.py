"""The composition root: settings -> SLA policy and handler deps, the handler tables,
the runtime, the HTTP app."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import FastAPI
from kauppa.handoff.api import router
from kauppa.handoff.commands import COMMAND_EMITS
from kauppa.handoff.handlers import EVENTS, TIMERS, Deps
from kauppa.handoff.repository import INDEXES, migrate_roster
from kauppa.handoff.settings import HandoffSettings
from kauppa.servicekit.clock import Clock
from kauppa.servicekit.http import create_app
from kauppa.servicekit.routes import handlers_from, timers_from
from kauppa.servicekit.runtime import ServiceRuntime
from kauppa.servicekit.settings import ServiceSettings


def build_runtime(settings: HandoffSettings, clock: Clock | None = None) -> ServiceRuntime:
    deps = Deps(policy=settings.sla_policy())
    if deps.policy.calendar is not None:
        deps.policy.calendar.warm(datetime.now(UTC).date())
    return ServiceRuntime(
        settings,
        handlers_from(EVENTS, deps),
        timer_handlers=timers_from(TIMERS, deps),
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
