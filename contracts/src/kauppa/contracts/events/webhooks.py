"""Webhooks events: the state of the HTTP subscriptions that push events to systems
which cannot read Kafka (issue 19)."""

from __future__ import annotations

from kauppa.contracts import topics
from kauppa.contracts.base import Event, UtcDatetime
from kauppa.contracts.bounds import Id, ShortText, Text
from pydantic import Field


class WebhookSubscriptionDisabled(Event):
    type_name = "WebhookSubscriptionDisabled"
    topic = topics.WEBHOOKS.name
    key_field = "subscription_id"
    emitted_by = "webhooks"
    consumed_by = ("dashboard",)
    meaning = (
        "A webhook subscription failed without a success for too long and was disabled; "
        "its deliveries wait until ops activate it."
    )

    subscription_id: Id
    organisation_id: Id
    url_host: ShortText = Field(
        description="The receiver's host only (no path, query or credentials)"
    )
    failing_since: UtcDatetime
    disabled_at: UtcDatetime
    reason: Text = Field(description="Why: how long it failed and the last error")
