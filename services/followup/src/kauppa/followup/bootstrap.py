"""The composition root: settings -> deps, handler tables, indexes, runtime, HTTP app.

Beside the kit's parts the runtime carries the service's standing audit timer (armed at
start) and its invariant gauge (``audit.audit_gauge(runtime)``)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from kauppa.contracts import business_days
from kauppa.followup.api import router
from kauppa.followup.audit import AUDIT, AUDIT_TIMER_KEY, AuditGauge
from kauppa.followup.commands import COMMAND_EMITS, rules_of
from kauppa.followup.digest import DIGEST_INDEXES, DigestSender
from kauppa.followup.handlers import EVENTS, TIMERS, Deps
from kauppa.followup.repository import INDEXES
from kauppa.followup.settings import FollowupSettings
from kauppa.servicekit.clock import Clock, SystemClock
from kauppa.servicekit.http import create_app
from kauppa.servicekit.routes import handlers_from, timers_from
from kauppa.servicekit.runtime import ServiceRuntime
from kauppa.servicekit.unit_of_work import UnitOfWork


def build_runtime(settings: FollowupSettings, clock: Clock | None = None) -> ServiceRuntime:
    business_days.warm(settings.holiday_country, (clock or SystemClock()).now().year)
    deps = Deps(
        settings=settings,
        rules=rules_of(settings),
        digests=DigestSender(settings),
        audit=AuditGauge(),
    )
    runtime = ServiceRuntime(
        settings,
        handlers_from(EVENTS, deps),
        timer_handlers=timers_from(TIMERS, deps),
        indexes=(*INDEXES, *DIGEST_INDEXES),
        emits=COMMAND_EMITS,
        clock=clock,
    )
    deps.audit.register(runtime)

    async def arm_audit() -> None:
        """The periodic invariant audit's first run (an armed one is left alone)."""

        async def arm(uow: UnitOfWork) -> None:
            first = uow.now + timedelta(minutes=settings.audit_interval_minutes)
            uow.schedule(AUDIT_TIMER_KEY, first, AUDIT, {}, replace=False)

        await runtime.committer.commit(arm)

    runtime.on_start(arm_audit)
    return runtime


def build_app(settings: FollowupSettings) -> FastAPI:
    runtime = build_runtime(settings)
    return create_app(
        runtime,
        [router],
        description="Feedback after delivery and a next contact for every customer (D13-D18).",
    )
