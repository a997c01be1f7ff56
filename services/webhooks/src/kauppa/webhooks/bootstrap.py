"""The composition root: settings in, a running webhooks service out."""

from __future__ import annotations

import contextlib

from fastapi import FastAPI
from kauppa.servicekit.clock import Clock
from kauppa.servicekit.http import create_app
from kauppa.servicekit.runtime import ServiceRuntime
from kauppa.webhooks.api import router
from kauppa.webhooks.handlers import build_handlers
from kauppa.webhooks.repository import indexes
from kauppa.webhooks.sender import (
    SENDER_EMITS,
    Resolver,
    SenderMetrics,
    WebhookSender,
    resolve,
)
from kauppa.webhooks.settings import WebhooksSettings
from kauppa.webhooks.stats import subscription_stats
from prometheus_client import Gauge


class WebhooksRuntime(ServiceRuntime):
    """The kit's runtime plus the delivery loop, started after the kit's parts and
    stopped before them, woken after each consumed batch."""

    settings: WebhooksSettings

    def __init__(
        self,
        settings: WebhooksSettings,
        clock: Clock | None = None,
        *,
        consume: bool = True,
        resolver: Resolver = resolve,
    ) -> None:
        handlers, _sequencer = build_handlers()
        super().__init__(
            settings,
            handlers,
            indexes=indexes(settings.retention_days),
            emits=SENDER_EMITS,  # the sender loop disabling a subscription
            clock=clock,
            consume=consume,
        )
        self.sender = WebhookSender(
            self.db,
            self.committer,
            self.clock,
            settings,
            SenderMetrics(self.name, self.metrics.registry),
            resolver,
        )
        if settings.run_sender:
            self.add_worker("webhook sender", self.sender)

        labels = ["service", "subscription_id", "organisation_id", "state"]
        registry = self.metrics.registry
        self.backlog = Gauge(
            "kauppa_webhook_backlog",
            "Undelivered deliveries per subscription",
            labels,
            registry=registry,
        )
        self.oldest = Gauge(
            "kauppa_webhook_oldest_undelivered_seconds",
            "Age of the oldest undelivered delivery per subscription",
            labels,
            registry=registry,
        )
        self.delivered = Gauge(
            "kauppa_webhook_delivered",
            "Deliveries answered 2xx per subscription, since it was made (a resend counts)",
            labels,
            registry=registry,
        )
        self.failing = Gauge(
            "kauppa_webhook_subscription_failing",
            "1 while a subscription fails (no success since a failure) or is disabled",
            labels,
            registry=registry,
        )

    async def refresh_gauges(self) -> None:
        await super().refresh_gauges()
        with contextlib.suppress(Exception):
            rows = await subscription_stats(self.db, self.clock)
            for gauge in (self.backlog, self.oldest, self.delivered, self.failing):
                gauge.clear()
            for r in rows:
                labels = (self.name, r["subscription_id"], r["organisation_id"], r["state"])
                self.backlog.labels(*labels).set(r["backlog"])
                self.oldest.labels(*labels).set(r["oldest_undelivered_age_seconds"] or 0)
                self.delivered.labels(*labels).set(r["delivered"])
                self.failing.labels(*labels).set(1 if r["failing"] else 0)


def build_runtime(settings: WebhooksSettings, clock: Clock | None = None) -> WebhooksRuntime:
    return WebhooksRuntime(settings, clock)


def build_service_app(runtime: WebhooksRuntime, *, manage_runtime: bool = True) -> FastAPI:
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
