"""Operational health of one service, from its /health/ready answer and its Prometheus
metrics text."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class ServiceHealth:
    service: str
    url: str
    reachable: bool
    ready: bool
    checks: dict[str, str] = field(default_factory=dict)
    consumer_lag: int | None = None
    dead_letters: int | None = None
    outbox_backlog: int | None = None
    timers_due: int | None = None
    events_in: int | None = None
    error: str | None = None
    # A webhooks service's subscriptions: backlog, oldest undelivered age, failing.
    webhooks: list[dict[str, object]] = field(default_factory=list)

    @property
    def status(self) -> str:
        if not self.reachable:
            return "down"
        return "ready" if self.ready else "not_ready"

    def as_dict(self) -> dict[str, object]:
        return {
            "service": self.service,
            "url": self.url,
            "status": self.status,
            "reachable": self.reachable,
            "ready": self.ready,
            "checks": self.checks,
            "consumer_lag": self.consumer_lag,
            "dead_letters": self.dead_letters,
            "outbox_backlog": self.outbox_backlog,
            "timers_due": self.timers_due,
            "events_in": self.events_in,
            "error": self.error,
            "webhooks": self.webhooks,
        }


SUMMED = {
    "kauppa_consumer_lag": "consumer_lag",
    "kauppa_dead_letters_total": "dead_letters",
    "kauppa_outbox_backlog": "outbox_backlog",
    "kauppa_timers_due": "timers_due",
    "kauppa_events_in_total": "events_in",
}


def metric_totals(text: str) -> dict[str, int]:
    """Sum each metric of interest over its labels (partitions, reasons, types).
    A metric the service does not export at all is absent, not zero."""
    totals: dict[str, float] = {}
    declared = {name.removesuffix("_total"): key for name, key in SUMMED.items()}
    for family in text_string_to_metric_families(text):
        if family.name in declared:
            # Declared but no samples yet (no partition, no dead letter so far): zero.
            totals.setdefault(declared[family.name], 0.0)
        for sample in family.samples:
            key = SUMMED.get(sample.name)
            if key is not None:
                totals[key] = totals.get(key, 0.0) + sample.value
    return {k: round(v) for k, v in totals.items()}


WEBHOOK_GAUGES = {
    "kauppa_webhook_backlog": "backlog",
    "kauppa_webhook_oldest_undelivered_seconds": "oldest_undelivered_seconds",
    "kauppa_webhook_delivered": "delivered",
    "kauppa_webhook_subscription_failing": "failing",
}


def webhook_subscriptions(text: str) -> list[dict[str, object]]:
    """Per subscription, from the webhooks service's gauges; failing ones first."""
    rows: dict[str, dict[str, object]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            key = WEBHOOK_GAUGES.get(sample.name)
            sub = sample.labels.get("subscription_id")
            if key is None or not sub:
                continue
            row = rows.setdefault(
                sub,
                {
                    "subscription_id": sub,
                    "organisation_id": sample.labels.get("organisation_id"),
                    "state": sample.labels.get("state"),
                },
            )
            row[key] = bool(sample.value) if key == "failing" else round(sample.value, 1)
    return sorted(rows.values(), key=lambda r: (not r.get("failing"), str(r["subscription_id"])))


def service_health(
    service: str,
    url: str,
    *,
    ready_status: int | None,
    ready_body: object,
    metrics_text: str | None,
    error: str | None = None,
) -> ServiceHealth:
    """Combine what a scrape got; ``ready_status`` None means nothing answered. A ready
    body that is not a JSON object carries no checks; metrics text that is not in the
    Prometheus format counts as no metrics, and ``error`` says so."""
    if ready_status is None:
        return ServiceHealth(service, url, reachable=False, ready=False, error=error)
    raw_checks = ready_body.get("checks") if isinstance(ready_body, dict) else None
    checks = {str(k): str(v) for k, v in raw_checks.items()} if isinstance(raw_checks, dict) else {}
    webhooks: list[dict[str, object]] = []
    try:
        totals = metric_totals(metrics_text) if metrics_text else {}
        if metrics_text and "kauppa_webhook_backlog" in metrics_text:
            webhooks = webhook_subscriptions(metrics_text)
    except ValueError as exc:
        totals, error = {}, f"bad metrics: {exc}"[:200]
    return ServiceHealth(
        service,
        url,
        reachable=True,
        ready=ready_status == 200,
        checks=checks,
        consumer_lag=totals.get("consumer_lag"),
        dead_letters=totals.get("dead_letters"),
        outbox_backlog=totals.get("outbox_backlog"),
        timers_due=totals.get("timers_due"),
        events_in=totals.get("events_in"),
        error=error,
        webhooks=webhooks,
    )
