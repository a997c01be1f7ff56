"""The service's own collections and their indexes."""

from __future__ import annotations

from kauppa.servicekit.mongo import Indexes
from pymongo import ASCENDING, IndexModel

SUBSCRIPTIONS = "subscriptions"  # one per subscription: URL, event types, filters, secrets
LEAD_SOURCES = "lead_sources"  # lead_id -> its source, for events that do not carry it
DELIVERIES = "deliveries"  # one per (subscription, event): state, attempts, the body
ATTEMPTS = "attempts"  # one per HTTP attempt: status, latency, error

LEAD_SOURCE_DAYS = 400  # deals can run for months before they close or are lost


def indexes(retention_days: int) -> tuple[Indexes, ...]:
    return (
        Indexes(
            SUBSCRIPTIONS,
            (IndexModel([("organisation_id", ASCENDING), ("state", ASCENDING)], name="org"),),
        ),
        Indexes(
            LEAD_SOURCES,
            (
                IndexModel(
                    [("at", ASCENDING)],
                    name="lead_source_ttl",
                    expireAfterSeconds=LEAD_SOURCE_DAYS * 86400,
                ),
            ),
        ),
        Indexes(
            DELIVERIES,
            (
                # The undelivered, per subscription and key in order: the head of each
                # key is the only one that may be sent.
                IndexModel(
                    [("subscription_id", ASCENDING), ("key", ASCENDING), ("seq", ASCENDING)],
                    name="open_heads",
                    partialFilterExpression={"open": True},
                ),
                IndexModel(
                    [("subscription_id", ASCENDING), ("created_at", ASCENDING)],
                    name="by_subscription",
                ),
                # Due candidates in order.
                IndexModel(
                    [("subscription_id", ASCENDING), ("seq", ASCENDING)],
                    name="open_by_seq",
                    partialFilterExpression={"open": True},
                ),
                IndexModel([("claimed_by", ASCENDING)], name="claim", sparse=True),
                # Delivered ones leave after the retention (``expires_at`` set then).
                IndexModel([("expires_at", ASCENDING)], name="delivered_ttl", expireAfterSeconds=0),
            ),
        ),
        Indexes(
            ATTEMPTS,
            (
                IndexModel([("delivery_id", ASCENDING), ("at", ASCENDING)], name="delivery"),
                IndexModel([("subscription_id", ASCENDING), ("at", ASCENDING)], name="sub"),
                IndexModel(
                    [("at", ASCENDING)],
                    name="attempts_ttl",
                    expireAfterSeconds=retention_days * 86400,
                ),
            ),
        ),
    )
