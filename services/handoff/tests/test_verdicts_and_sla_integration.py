"""D3 on a real broker and mongod: verdicts flow back to the source; the SLA reminds and
then reassigns when the clock moves; two replicas assign each of 1,000 leads once."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from kauppa.contracts import (
    ReturnReason,
    Verdict,
    envelope,
    examples,
    topics,
)
from kauppa.devkit.testing import TopicReader, eventually, publish_envelopes
from kauppa.handoff.settings import HandoffSettings
from kauppa.servicekit.clock import ManualClock

from .support import new_org, seed_sellers, seller_doc, verdict

pytestmark = pytest.mark.integration

HANDOFF = topics.LEADS_HANDOFF.name


async def test_d3_returned_lead_produces_returned_event_with_source_and_reason(
    start_handoff, kafka_settings
):
    org = new_org()
    rt = await start_handoff()
    await seed_sellers(rt, [seller_doc("s-1", org, capacity=2)])
    returned = examples.lead_qualified(
        organisation_id=org,
        source=examples.LeadSource(system="list-builder", booker="b-7", campaign="list-42"),
    )
    accepted = examples.lead_qualified(organisation_id=org, product_interest=["crm", "erp"])
    bootstrap = kafka_settings.bootstrap_servers
    async with TopicReader(bootstrap, HANDOFF) as reader:
        await publish_envelopes(bootstrap, [envelope(x, source="t") for x in (returned, accepted)])
        await reader.wait_for_events("LeadAssigned", lead_id=returned.lead_id)
        await reader.wait_for_events("LeadAssigned", lead_id=accepted.lead_id)
        await publish_envelopes(
            bootstrap,
            [
                # Someone else's verdict is refused: nothing happens.
                envelope(verdict(returned.lead_id, "s-other", Verdict.ACCEPT), source="tools"),
                envelope(
                    verdict(
                        returned.lead_id,
                        "s-1",
                        Verdict.RETURN,
                        reason_code=ReturnReason.NO_BUDGET,
                        reason_text="Budget frozen until autumn",
                    ),
                    source="tools",
                ),
                envelope(verdict(accepted.lead_id, "s-1", Verdict.ACCEPT), source="tools"),
            ],
        )
        (back,) = await reader.wait_for_events("LeadReturned", lead_id=returned.lead_id)
        (ok,) = await reader.wait_for_events("LeadAccepted", lead_id=accepted.lead_id)
        await asyncio.sleep(0.2)
        assert not reader.events("LeadAccepted", lead_id=returned.lead_id)
    assert back.source == returned.source and back.source.booker == "b-7"
    assert back.reason_code == ReturnReason.NO_BUDGET
    assert back.reason_text == "Budget frozen until autumn" and back.seller_id == "s-1"
    # closing opens a deal from this: prospect, source and product interest travel along.
    assert ok.prospect == accepted.prospect and ok.source == accepted.source
    assert ok.product_interest == ["crm", "erp"] and ok.assigned_at is not None
    seller = await rt.db["sellers"].find_one({"seller_id": "s-1"})
    assert seller["open_leads"] == 0
    # The SLA timers of both leads are cancelled.
    assert await rt.db["_timers"].count_documents({"state": "scheduled"}) == 0


async def test_d3_sla_moving_the_clock_past_x_reminds_and_past_y_reassigns(
    settings_for, start_handoff, kafka_settings
):
    org = new_org()
    # Monday 2 March 2026, 09:00 in Helsinki; X = 2 and Y = 4 business hours.
    clock = ManualClock(datetime(2026, 3, 2, 7, 0, tzinfo=UTC))
    settings = settings_for(
        HandoffSettings,
        service_name="handoff",
        reminder_after_hours=2,
        reassign_after_hours=4,
        business_hours_only=True,
    )
    rt = await start_handoff(clock=clock, settings=settings)
    await seed_sellers(rt, [seller_doc("sla-a", org), seller_doc("sla-b", org)])
    lead = examples.lead_qualified(organisation_id=org)
    bootstrap = kafka_settings.bootstrap_servers
    async with TopicReader(bootstrap, HANDOFF) as reader:
        await publish_envelopes(bootstrap, [envelope(lead, source="t")])
        (first,) = await reader.wait_for_events("LeadAssigned", lead_id=lead.lead_id)
        assert first.seller_id == "sla-a" and first.attempt == 1
        assert first.respond_by == datetime(2026, 3, 2, 11, 0, tzinfo=UTC)  # 13:00 Helsinki

        clock.advance(timedelta(hours=1, minutes=59))
        await rt.timers.fire_due()
        assert not reader.events("HandoffReminderDue", lead_id=lead.lead_id)

        clock.advance(timedelta(minutes=2))  # past X
        await rt.timers.fire_due()
        (reminder,) = await reader.wait_for_events("HandoffReminderDue", lead_id=lead.lead_id)
        assert reminder.seller_id == "sla-a"
        assert not reader.events("LeadReassigned", lead_id=lead.lead_id)

        clock.advance(timedelta(hours=2))  # past Y
        await rt.timers.fire_due()
        (moved,) = await reader.wait_for_events("LeadReassigned", lead_id=lead.lead_id)
        second = await reader.wait_for_events("LeadAssigned", count=2, lead_id=lead.lead_id)
    assert moved.from_seller_id == "sla-a" and moved.to_seller_id == "sla-b"
    assert second[-1].seller_id == "sla-b" and second[-1].attempt == 2
    doc = await rt.db["leads"].find_one({"_id": lead.lead_id})
    assert doc["reminders"] == 1 and doc["reassignments"] == 1
    sellers = {d["seller_id"]: d["open_leads"] async for d in rt.db["sellers"].find({})}
    assert sellers == {"sla-a": 0, "sla-b": 1}


async def test_two_replicas_in_one_consumer_group_assign_each_of_1000_leads_exactly_once(
    settings_for, start_handoff, kafka_settings
):
    org = new_org()
    settings = settings_for(HandoffSettings, service_name="handoff", business_hours_only=False)
    a = await start_handoff(settings=settings)
    b = await start_handoff(settings=settings)
    await seed_sellers(a, [seller_doc(f"rep-{i}", org, capacity=1000) for i in range(4)])
    leads = [examples.lead_qualified(organisation_id=org) for _ in range(1000)]
    bootstrap = kafka_settings.bootstrap_servers

    def ours(reader: TopicReader) -> list:
        return [e for e in reader.events("LeadAssigned") if e.organisation_id == org]

    async with TopicReader(bootstrap, HANDOFF) as reader:
        await publish_envelopes(bootstrap, [envelope(x, source="t") for x in leads])
        await reader.wait_for(lambda r: len(ours(r)) >= 1000, timeout=60, what="1000 assigned")
        await asyncio.sleep(0.5)
        assigned = ours(reader)

    per_lead = Counter(e.lead_id for e in assigned)
    assert len(per_lead) == 1000 and set(per_lead.values()) == {1}
    assert a.consumer and b.consumer
    assert a.consumer._consumer.assignment() and b.consumer._consumer.assignment()
    sellers = {d["seller_id"]: d["open_leads"] async for d in a.db["sellers"].find({})}
    assert sum(sellers.values()) == 1000
    assert Counter(e.seller_id for e in assigned) == Counter(sellers)

    async def no_duplicate_leads() -> bool:
        return await a.db["leads"].count_documents({"organisation_id": org}) == 1000

    await eventually(no_duplicate_leads)
