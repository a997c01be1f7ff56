"""The composition root: settings in, a running webhooks service out (the kit's runtime
with the handler table, the sender as a worker and the per-subscription gauges)."""

from __future__ import annotations

from fastapi import FastAPI
from kauppa.servicekit.clock import Clock
from kauppa.servicekit.http import create_app
from kauppa.servicekit.routes import handlers_from
from kauppa.servicekit.runtime import ServiceRuntime
from kauppa.webhooks.api import router
from kauppa.webhooks.handlers import EVENTS, Deps
from kauppa.webhooks.repository import indexes
from kauppa.webhooks.sender import (
    SENDER_EMITS,
    Resolver,
    SenderMetrics,
    WebhookSender,
    attach_sender,
    resolve,
)
from kauppa.webhooks.settings import WebhooksSettings
from kauppa.webhooks.stats import WebhookGauges


def build_runtime(
    settings: WebhooksSettings, clock: Clock | None = None, *, resolver: Resolver = resolve
) -> ServiceRuntime:
    """The delivery loop (``sender_of(runtime)``) starts after the kit's parts, stops
    before them and is woken after each consumed batch."""
    runtime = ServiceRuntime(
        settings,
        handlers_from(EVENTS, Deps()),
        indexes=indexes(settings.retention_days),
        emits=SENDER_EMITS,  # the sender loop disabling a subscription
        clock=clock,
    )
    sender = WebhookSender(
        runtime.db,
        runtime.committer,
        runtime.clock,
        settings,
        SenderMetrics(runtime.name, runtime.metrics.registry),
        resolver,
    )
    attach_sender(runtime, sender)
    if settings.run_sender:
        runtime.add_worker("webhook sender", sender)
    gauges = WebhookGauges(runtime.name, runtime.metrics.registry)

    async def refresh_gauges() -> None:
        await gauges.refresh(runtime.db, runtime.clock)

    runtime.on_gauges(refresh_gauges)
    return runtime


def build_service_app(runtime: ServiceRuntime, *, manage_runtime: bool = True) -> FastAPI:
    return create_app(
        runtime,
        [router],
        description="Verdicts, assignments and reminders pushed to HTTP receivers, signed "
        "per Standard Webhooks (D3 for sources that cannot read Kafka).",
        manage_runtime=manage_runtime,
    )


def build_app(settings: WebhooksSettings) -> FastAPI:
    """The process's app: the runtime starts and stops with it."""
    return build_service_app(build_runtime(settings))
