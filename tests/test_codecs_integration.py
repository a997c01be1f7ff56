"""A foreign producer compresses, every service handles (issue 17, part 1).

An upstream team's standard client, librdkafka (confluent-kafka), writes record batches
compressed with gzip, snappy, lz4 and zstd into every topic any service consumes; each
service (handoff, closing, confirmation, followup, dashboard) takes every event of its
topics: its inbox holds the event's id. One runtime per service, all codecs at once."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from confluent_kafka import Producer
from kauppa.closing.bootstrap import build_runtime as build_closing
from kauppa.closing.settings import ClosingSettings
from kauppa.confirmation.bootstrap import build_runtime as build_confirmation
from kauppa.confirmation.settings import ConfirmationSettings
from kauppa.contracts import (
    ConfirmationSent,
    ContactDue,
    CustomerClassificationSubmitted,
    CustomerContactReported,
    CustomerErased,
    Envelope,
    Event,
    LeadAccepted,
    LeadVerdictSubmitted,
    NextContactScheduled,
    ReferralReceived,
    SegmentCampaignStarted,
    envelope,
    event_class,
    examples,
    to_kafka,
)
from kauppa.contracts.events.common import Referral
from kauppa.contracts.events.customers import ContactKind, CustomerAttributes, SegmentCriteria
from kauppa.contracts.events.leads import Verdict
from kauppa.dashboard.bootstrap import build_runtime as build_dashboard
from kauppa.dashboard.settings import DashboardSettings
from kauppa.devkit.testing import eventually
from kauppa.followup.bootstrap import build_runtime as build_followup
from kauppa.followup.settings import FollowupSettings
from kauppa.handoff.bootstrap import build_runtime as build_handoff
from kauppa.handoff.settings import HandoffSettings
from kauppa.servicekit.pipeline import was_handled
from kauppa.servicekit.runtime import ServiceRuntime
from kauppa.webhooks.bootstrap import build_runtime as build_webhooks
from kauppa.webhooks.settings import WebhooksSettings

pytestmark = pytest.mark.integration

CODECS = ("gzip", "snappy", "lz4", "zstd")


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def _one_per_topic(codec: str) -> list[Event]:
    """A valid event for every topic a service consumes, of a type every service
    consuming that topic handles."""
    now = datetime.now(UTC)
    org = _id("org-codec")  # an organisation of its own: other tests count theirs
    lead = examples.lead_qualified(organisation_id=org, notes=f"codec {codec}")
    customer, seller = _id("cust"), "seller-1"
    return [
        lead,
        LeadVerdictSubmitted(
            lead_id=lead.lead_id, seller_id=seller, verdict=Verdict.ACCEPT, submitted_at=now
        ),
        LeadAccepted(
            lead_id=_id("lead"),
            organisation_id=org,
            seller_id=seller,
            source=lead.source,
            prospect=lead.prospect,
            accepted_at=now,
        ),
        examples.deal_closed(organisation_id=org),
        examples.delivery_completed(organisation_id=org),
        CustomerErased(
            customer_id=customer, organisation_id=org, requested_by="dpo", erased_at=now
        ),
        CustomerClassificationSubmitted(
            customer_id=_id("cust"),
            organisation_id=org,
            attributes=CustomerAttributes(industry="retail", size="small", region="Uusimaa"),
            submitted_at=now,
        ),
        CustomerContactReported(
            report_id=_id("report"), customer_id=_id("cust"), seller_id=seller, contacted_at=now
        ),
        SegmentCampaignStarted(
            campaign_id=_id("campaign"),
            organisation_id=org,
            criteria=SegmentCriteria(industries=["retail"]),
            reason="spring renewals",
            due_from=now,
            due_until=now + timedelta(days=14),
            matched_customers=0,
            started_at=now,
        ),
        ConfirmationSent(
            deal_id=_id("deal"),
            organisation_id=org,
            seller_id=seller,
            version=1,
            message_id=f"<{uuid.uuid4().hex}@kauppa>",
            sent_at=now,
        ),
        ContactDue(
            contact_id=_id("contact"),
            customer_id=_id("cust"),
            organisation_id=org,
            seller_id=seller,
            kind=ContactKind.YEARLY,
            due_at=now,
            fired_at=now,
            lateness_seconds=0.0,
        ),
        NextContactScheduled(
            customer_id=_id("cust"),
            organisation_id=org,
            seller_id=seller,
            contact_id=_id("contact"),
            kind=ContactKind.YEARLY,
            due_at=now + timedelta(days=365),
            scheduled_at=now,
        ),
        ReferralReceived(
            referral_id=_id("referral"),
            organisation_id=org,
            seller_id=seller,
            referral=Referral(name="Matti Virtanen", company="Virtanen Oy"),
            received_at=now,
        ),
        examples.webhook_subscription_disabled(organisation_id=org),
    ]


def _produce(bootstrap: str, codec: str, envelopes: list[Envelope]) -> None:
    """librdkafka, as an upstream team would run it; one flush per codec, so every
    topic-partition gets its own batches in this codec."""
    errors: list[Any] = []
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "compression.type": codec,
            "linger.ms": 20,
            "enable.idempotence": False,  # Tansu refuses the idempotent producer
            "acks": "all",
        }
    )
    for env in envelopes:
        topic, key, value, headers = to_kafka(env)
        producer.produce(
            topic,
            key=key,
            value=value,
            headers=headers,
            on_delivery=lambda err, _msg: errors.append(err) if err else None,
        )
    assert producer.flush(15) == 0, "not all delivered"
    assert errors == []


async def test_every_service_handles_batches_compressed_with_every_codec(
    infra, settings_for, runtimes
):
    builders: list[tuple[Callable[..., ServiceRuntime], type, dict[str, Any]]] = [
        (build_handoff, HandoffSettings, {}),
        (build_closing, ClosingSettings, {}),
        # Review first (the default for this test's organisations): nothing is mailed.
        (build_confirmation, ConfirmationSettings, {"default_policy": "seller_review"}),
        (build_followup, FollowupSettings, {}),
        (build_dashboard, DashboardSettings, {"service_urls": {}}),
        (build_webhooks, WebhooksSettings, {}),
    ]
    services: list[ServiceRuntime] = []
    for build, cls, extra in builders:
        name = cls.__name__.removesuffix("Settings").lower()
        rt = build(settings_for(cls, service_name=name, **extra))
        runtimes.append(rt)
        services.append(rt)
    await asyncio.gather(*(rt.start() for rt in services))

    sent: dict[str, list[Envelope]] = {}
    for codec in CODECS:
        sent[codec] = [envelope(e, source="upstream/librdkafka") for e in _one_per_topic(codec)]
        await asyncio.to_thread(_produce, infra.kafka_bootstrap_servers, codec, sent[codec])

    topics_covered: dict[str, set[str]] = {}
    expected: list[tuple[ServiceRuntime, str, Envelope]] = []
    for rt in services:
        consumed = set(rt.consumer.topics if rt.consumer else ())
        topics_covered[rt.name] = set()
        for codec, envs in sent.items():
            for env in envs:
                if env.topic in consumed:
                    assert env.type in rt.handlers.by_type, (rt.name, env.type)
                    expected.append((rt, codec, env))
                    topics_covered[rt.name].add(env.topic)
        assert topics_covered[rt.name] == consumed, f"{rt.name}: a topic has no event"

    async def not_handled() -> list[tuple[str, str, str]]:
        return [
            (rt.name, codec, env.event.type_name)
            for rt, codec, env in expected
            if not await was_handled(rt.db, env.id)
        ]

    await eventually(not_handled, lambda missing: missing == [], timeout=40)
    assert len(expected) == 4 * sum(len(t) for t in topics_covered.values())


def test_the_events_chosen_cover_every_topic_with_a_handled_type() -> None:
    types = {type(e) for e in _one_per_topic("none")}
    assert all(event_class(t.ce_type()) is t for t in types)
