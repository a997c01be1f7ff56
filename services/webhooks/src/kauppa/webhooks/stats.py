"""Per subscription: state, backlog and the oldest undelivered delivery's age, for
``GET /stats``, the dashboard and the per-subscription gauges (``WebhookGauges``,
refreshed before each ``/metrics`` scrape: ``runtime.on_gauges``)."""

from __future__ import annotations

from datetime import UTC, datetime

from kauppa.servicekit.clock import Clock
from kauppa.servicekit.repository import Document
from kauppa.webhooks import repository
from prometheus_client import CollectorRegistry, Gauge
from pymongo.asynchronous.database import AsyncDatabase


async def subscription_stats(
    db: AsyncDatabase[Document], clock: Clock, query: Document | None = None
) -> list[Document]:
    now = clock.now()
    subs = await repository.subscriptions(db, query)
    backlog = await repository.backlog(db, [s["_id"] for s in subs])
    rows = []
    for s in subs:
        b = backlog.get(s["_id"], {})
        oldest: datetime | None = b.get("oldest")
        age = (
            max(clock.real_seconds(now - oldest.replace(tzinfo=oldest.tzinfo or UTC)), 0.0)
            if oldest
            else None
        )
        rows.append(
            {
                "subscription_id": s["_id"],
                "organisation_id": s["organisation_id"],
                "url": s["url"],
                "state": s["state"],
                "filters": s.get("filters"),
                "backlog": b.get("backlog", 0),
                "oldest_undelivered_age_seconds": round(age, 1) if age is not None else None,
                "failing": s["state"] == "disabled" or s.get("failing_since") is not None,
                "delivered": s.get("delivered", 0),
                "failing_since": s.get("failing_since"),
                "last_error": s.get("last_error"),
                "last_success_at": s.get("last_success_at"),
            }
        )
    return rows


class WebhookGauges:
    """The per-subscription gauges (the dashboard's webhook table), set from
    ``subscription_stats`` at each refresh."""

    def __init__(self, service: str, registry: CollectorRegistry) -> None:
        self.service = service
        labels = ["service", "subscription_id", "organisation_id", "state"]
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

    async def refresh(self, db: AsyncDatabase[Document], clock: Clock) -> None:
        rows = await subscription_stats(db, clock)
        for gauge in (self.backlog, self.oldest, self.delivered, self.failing):
            gauge.clear()
        for r in rows:
            labels = (self.service, r["subscription_id"], r["organisation_id"], r["state"])
            self.backlog.labels(*labels).set(r["backlog"])
            self.oldest.labels(*labels).set(r["oldest_undelivered_age_seconds"] or 0)
            self.delivered.labels(*labels).set(r["delivered"])
            self.failing.labels(*labels).set(1 if r["failing"] else 0)
