"""The composition root: settings in, a running confirmation service out."""

from __future__ import annotations

from fastapi import FastAPI
from kauppa.confirmation.api import router
from kauppa.confirmation.handlers import TIMER_HANDLERS, build_handlers
from kauppa.confirmation.mailer import SmtpMailer
from kauppa.confirmation.policies import PolicyBook
from kauppa.confirmation.rendering import ConfirmationRenderer
from kauppa.confirmation.repository import INDEXES
from kauppa.confirmation.sender import SENDER_EMITS, ConfirmationSender, SenderMetrics
from kauppa.confirmation.settings import ConfirmationSettings
from kauppa.confirmation.signed_copy import SignedCopyFetcher
from kauppa.contracts import business_days
from kauppa.servicekit.clock import Clock, SystemClock
from kauppa.servicekit.http import create_app
from kauppa.servicekit.runtime import ServiceRuntime


class ConfirmationRuntime(ServiceRuntime):
    """The kit's runtime plus the SMTP sender loop, a kit worker: started and stopped
    with it, woken after each consumed batch."""

    def __init__(
        self, settings: ConfirmationSettings, clock: Clock | None = None, *, consume: bool = True
    ) -> None:
        self.policies = PolicyBook(settings)
        super().__init__(
            settings,
            build_handlers(settings, self.policies),
            timer_handlers=TIMER_HANDLERS,
            indexes=INDEXES,
            emits=SENDER_EMITS,  # the SMTP sender loop's outcomes
            clock=clock,
            consume=consume,
        )
        self.confirmation_settings = settings
        self.renderer = ConfirmationRenderer(settings.template_dir)
        self.sender = ConfirmationSender(
            self.db,
            self.committer,
            self.clock,
            settings,
            SenderMetrics(self.name, self.metrics.registry),
            self.renderer,
            SmtpMailer(settings),
            SignedCopyFetcher(settings, self.name, self.metrics.registry),
        )
        if settings.run_sender:
            self.add_worker("smtp sender", self.sender)


def build_runtime(
    settings: ConfirmationSettings, clock: Clock | None = None
) -> ConfirmationRuntime:
    business_days.warm(settings.default_country, (clock or SystemClock()).now().year)
    return ConfirmationRuntime(settings, clock)


def build_service_app(runtime: ConfirmationRuntime, *, manage_runtime: bool = True) -> FastAPI:
    return create_app(
        runtime,
        [router],
        description="Written order confirmations (D11, D12): drafts, seller review, sending.",
        manage_runtime=manage_runtime,
    )


def build_app(settings: ConfirmationSettings) -> FastAPI:
    """The process's app: the runtime starts and stops with it."""
    return build_service_app(build_runtime(settings))
