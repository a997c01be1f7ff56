"""A lead nobody can take, on a real broker and mongod: LeadQueued tells its source why,
once; a roster change later assigns it with LeadAssigned as usual."""

from __future__ import annotations

import asyncio

import pytest
from kauppa.contracts import QueueReason, envelope, examples, topics
from kauppa.devkit.testing import TopicReader, publish_envelopes
from kauppa.devkit.testing.http import bearer

from .support import new_org, seed_sellers, seller_doc

pytestmark = pytest.mark.integration

HANDOFF = topics.LEADS_HANDOFF.name


async def test_a_lead_nobody_can_take_is_queued_with_why_then_assigned_on_a_roster_change(
    service, kafka_settings
):
    rt, client = service
    org = new_org()
    ops = bearer(rt.settings, "ops-1", "ops")
    await seed_sellers(
        rt,
        [
            seller_doc("s-swedish", org, languages=["sv"]),
            seller_doc("s-full", org, languages=["fi"], capacity=1, open_leads=1),
        ],
    )
    finnish = examples.lead_qualified(organisation_id=org)  # fi-FI, Uusimaa, crm
    swedish = examples.lead_qualified(
        organisation_id=org, prospect=examples.prospect(locale="sv-FI")
    )
    async with TopicReader(kafka_settings.bootstrap_servers, HANDOFF) as reader:
        await publish_envelopes(
            kafka_settings.bootstrap_servers,
            [envelope(finnish, source="crm"), envelope(swedish, source="crm")],
        )
        (queued,) = await reader.wait_for_events("LeadQueued", lead_id=finnish.lead_id)
        await reader.wait_for_events("LeadAssigned", lead_id=swedish.lead_id)
        assert queued.reason == QueueReason.ALL_AT_CAPACITY
        assert "at capacity" in queued.detail
        assert queued.source == finnish.source  # back to the lead's source, like a verdict
        assert queued.language == "fi" and queued.region == "Uusimaa"
        assert queued.attempt == 0

        queue = (await client.get("/queue", params={"organisation_id": org}, headers=ops)).json()
        (waiting,) = queue["leads"]
        assert waiting["lead_id"] == finnish.lead_id
        assert waiting["queue_reason"] == "all_at_capacity"

        # Another batch drains the queue without a seller: no second LeadQueued.
        other = examples.lead_qualified(
            organisation_id=org, prospect=examples.prospect(locale="en-GB")
        )
        await publish_envelopes(kafka_settings.bootstrap_servers, [envelope(other, source="crm")])
        (why,) = await reader.wait_for_events("LeadQueued", lead_id=other.lead_id)
        assert why.reason == QueueReason.NO_SELLER_FOR_LANGUAGE and "'en'" in why.detail

        # The roster changes: a Finnish speaker with room takes the oldest queued lead.
        profile = {"organisation_id": org, "name": "Sanna", "languages": ["fi"], "capacity": 5}
        r = await client.put(
            "/sellers/s-finnish", json=profile, headers={**ops, "Idempotency-Key": "k1"}
        )
        assert r.status_code == 201, r.text
        (assigned,) = await reader.wait_for_events("LeadAssigned", lead_id=finnish.lead_id)
        assert assigned.seller_id == "s-finnish" and assigned.source == finnish.source
        await asyncio.sleep(0.3)
        assert len(reader.events("LeadQueued", lead_id=finnish.lead_id)) == 1
    doc = await rt.db["leads"].find_one({"_id": finnish.lead_id})
    assert doc["status"] == "assigned" and doc["queue_reason"] is None

    # The source-quality report counts both leads as queued, by why they waited.
    r = await client.get(
        "/stats/sources", params={"organisation_id": org, "by": "system"}, headers=ops
    )
    (row,) = r.json()["sources"]
    assert row["queued"] == 2
    assert row["queued_by_reason"] == {"all_at_capacity": 1, "no_seller_for_language": 1}
