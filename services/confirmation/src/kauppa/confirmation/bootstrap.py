"""The composition root: settings in, a running confirmation service out.

``build_runtime`` builds the kit's runtime from the handler table (``handlers.py``) bound
to the service's ``Deps``, adds the SMTP sender as a kit worker, and records both for
``deps.service_of(runtime)``; ``build_app`` puts the HTTP API on top."""

from __future__ import annotations

from fastapi import FastAPI
from kauppa.confirmation.api import router
from kauppa.confirmation.deps import ConfirmationService, Deps, attach
from kauppa.confirmation.handlers import EVENTS, TIMERS
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
from kauppa.servicekit.routes import handlers_from, timers_from
from kauppa.servicekit.runtime import ServiceRuntime


def build_runtime(settings: ConfirmationSettings, clock: Clock | None = None) -> ServiceRuntime:
    business_days.warm(settings.default_country, (clock or SystemClock()).now().year)
    deps = Deps(settings, PolicyBook(settings), ConfirmationRenderer(settings.template_dir))
    runtime = ServiceRuntime(
        settings,
        handlers_from(EVENTS, deps),
        timer_handlers=timers_from(TIMERS, deps),
        indexes=INDEXES,
        emits=SENDER_EMITS,  # the SMTP sender loop's outcomes
        clock=clock,
    )
    sender = ConfirmationSender(
        runtime.db,
        runtime.committer,
        runtime.clock,
        settings,
        SenderMetrics(runtime.name, runtime.metrics.registry),
        deps.renderer,
        SmtpMailer(settings),
        SignedCopyFetcher(settings, runtime.name, runtime.metrics.registry),
    )
    if settings.run_sender:
        runtime.add_worker("smtp sender", sender)  # started, woken and stopped with it
    attach(runtime, ConfirmationService(deps, sender))
    return runtime


def build_service_app(runtime: ServiceRuntime, *, manage_runtime: bool = True) -> FastAPI:
    return create_app(
        runtime,
        [router],
        description="Written order confirmations (D11, D12): drafts, seller review, sending.",
        manage_runtime=manage_runtime,
    )


def build_app(settings: ConfirmationSettings) -> FastAPI:
    """The process's app: the runtime starts and stops with it."""
    return build_service_app(build_runtime(settings))
