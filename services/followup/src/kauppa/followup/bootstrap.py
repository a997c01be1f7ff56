"""The composition root: settings -> handlers, timers, indexes, runtime, HTTP app."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from kauppa.contracts import business_days
from kauppa.followup.api import router
from kauppa.followup.audit import AUDIT, AUDIT_TIMER_KEY
from kauppa.followup.digest import DIGEST, DIGEST_INDEXES, DigestSender, register_lead_handlers
from kauppa.followup.handlers import COMMAND_EMITS, followup_handlers
from kauppa.followup.settings import FollowupSettings
from kauppa.followup.store import INDEXES
from kauppa.servicekit.clock import Clock, SystemClock
from kauppa.servicekit.http import create_app
from kauppa.servicekit.runtime import ServiceRuntime
from kauppa.servicekit.unit_of_work import UnitOfWork
from prometheus_client import Gauge


class FollowupRuntime(ServiceRuntime):
    """The kit's runtime plus the service's standing jobs (the periodic audit) and its
    own metrics."""

    settings: FollowupSettings

    def __init__(self, settings: FollowupSettings, **kwargs: object) -> None:
        handlers, timer_handlers = followup_handlers(settings, self)
        register_lead_handlers(handlers)  # leads waiting for a verdict, for the digest
        self.digests = DigestSender(settings)
        timer_handlers[DIGEST] = self.digests.fire
        super().__init__(
            settings,
            handlers,
            timer_handlers=timer_handlers,
            indexes=(*INDEXES, *DIGEST_INDEXES),
            emits=COMMAND_EMITS,
            **kwargs,  # type: ignore[arg-type]
        )
        self.invariant_violations = Gauge(
            "kauppa_followup_invariant_violations",
            "Customers breaking 'a next contact, at most 12 months after the last' (must be 0)",
            ["service", "violation"],
            registry=self.metrics.registry,
        )

    def record_audit(self, violations: dict[str, int]) -> None:
        for name, count in violations.items():
            self.invariant_violations.labels(self.name, name).set(count)

    async def start(self) -> None:
        await super().start()

        async def arm_audit(uow: UnitOfWork) -> None:
            first = uow.now + timedelta(minutes=self.settings.audit_interval_minutes)
            uow.schedule(AUDIT_TIMER_KEY, first, AUDIT, {}, replace=False)

        await self.committer.commit(arm_audit)


def build_runtime(settings: FollowupSettings, clock: Clock | None = None) -> FollowupRuntime:
    business_days.warm(settings.holiday_country, (clock or SystemClock()).now().year)
    return FollowupRuntime(settings, clock=clock)


def build_app(settings: FollowupSettings) -> FastAPI:
    runtime = build_runtime(settings)
    return create_app(
        runtime,
        [router],
        description="Feedback after delivery and a next contact for every customer (D13-D18).",
    )
