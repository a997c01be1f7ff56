"""``make bench`` scenario: events in -> deliveries acknowledged by a local receiver.

``webhooks: LeadAssigned -> delivered (local receiver)``: one active subscription of the
inputs' organisation; each LeadAssigned (its own lead: its own key) becomes a delivery in
the consumer's transaction, and the sender POSTs it, signed, to a receiver in its own
process (``kauppa.bench.webhook_receiver``), which answers 204 and acknowledges on a
Kafka topic. The measured time ends when the acknowledgement is read, so it is an upper
bound of "event to delivered" (it includes the receiver's own publish).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from kauppa.bench.harness import Scenario, helper_process
from kauppa.contracts import Envelope, LeadAssigned, LeadSource, envelope, examples
from kauppa.servicekit.runtime import ServiceRuntime
from kauppa.webhooks.bootstrap import build_runtime
from kauppa.webhooks.domain.signing import new_secret
from kauppa.webhooks.repository import SUBSCRIPTIONS
from kauppa.webhooks.settings import WebhooksSettings

ACK_TOPIC = "kauppa.bench.webhook-acks"
ORG = "org-bench-webhooks"


def receiver_port(bootstrap: str) -> int:
    """The receiver process (started once); it creates the acknowledgement topic first."""
    return helper_process("kauppa.bench.webhook_receiver", "{port}", bootstrap, ACK_TOPIC)


def _runtime(overrides: dict[str, Any]) -> Any:
    port = receiver_port(overrides["kafka"].bootstrap_servers)
    settings = WebhooksSettings(**overrides, per_subscription_in_flight=64, poll_seconds=0.05)
    runtime = build_runtime(settings)
    runtime.bench_url = f"http://127.0.0.1:{port}/hook"  # type: ignore[attr-defined]
    return runtime


async def _subscribe(runtime: ServiceRuntime) -> None:
    await runtime.db[SUBSCRIPTIONS].insert_one(
        {
            "_id": "whsub_bench",
            "organisation_id": ORG,
            "url": runtime.bench_url,  # type: ignore[attr-defined]
            "event_types": ["LeadAssigned"],
            "filters": {},
            "state": "active",
            "secrets": [{"secret": new_secret(), "expires_at": None}],
            "created_at": datetime.now(UTC),
        }
    )


def assigned(n: int) -> list[Envelope]:
    now = datetime.now(UTC)
    prospect, criteria = examples.prospect(), examples.criteria()
    source = LeadSource(system="web-form")
    return [
        envelope(
            LeadAssigned(
                lead_id=f"lead-bench-{i}-{now.timestamp():.0f}",
                organisation_id=ORG,
                seller_id="seller-1",
                source=source,
                prospect=prospect,
                criteria=criteria,
                assigned_at=now,
                respond_by=now + timedelta(hours=4),
            ),
            source="bench",
        )
        for i in range(n)
    ]


SCENARIOS = [
    Scenario(
        name="webhooks: LeadAssigned -> delivered (local receiver)",
        build_runtime=_runtime,
        make_inputs=assigned,
        output_type="WebhookDelivered",
        output_topic=ACK_TOPIC,
        prepare=_subscribe,
    ),
]
