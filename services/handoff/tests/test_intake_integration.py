"""Intake on a real broker and mongod: exactly-once assignment under redelivery, the D1
gate naming every unmet criterion, fair round-robin, duplicates linked."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from kauppa.contracts import ContactPerson, Criterion, envelope, examples, topics
from kauppa.devkit.testing import TopicReader, eventually, publish_envelopes
from kauppa.handoff.settings import HandoffSettings
from kauppa.servicekit.mongo import connect
from kauppa.servicekit.pipeline import was_handled

from .support import new_org, seed_sellers, seller_doc

pytestmark = pytest.mark.integration

HANDOFF = topics.LEADS_HANDOFF.name


def duplicates_seen(rt, type_name: str = "LeadQualified") -> float:
    return rt.metrics.events_duplicate.labels("handoff", type_name)._value.get()


async def test_d1_qualifying_lead_is_assigned_exactly_once_when_delivered_three_times(
    start_handoff, kafka_settings
):
    org = new_org()
    rt = await start_handoff()
    await seed_sellers(rt, [seller_doc("s-1", org), seller_doc("s-2", org)])
    lead = examples.lead_qualified(organisation_id=org)
    env = envelope(lead, source="test")
    # The same lead re-sent by the upstream system under a new event id is no new lead.
    resent = envelope(lead, source="test")
    async with TopicReader(kafka_settings.bootstrap_servers, HANDOFF) as reader:
        await publish_envelopes(kafka_settings.bootstrap_servers, [env, env, env, resent])
        await reader.wait_for_events("LeadAssigned", lead_id=lead.lead_id)

        async def all_four_processed() -> bool:
            return duplicates_seen(rt) >= 2 and await was_handled(rt.db, resent.id)

        await eventually(all_four_processed)
        await asyncio.sleep(0.3)
        assigned = reader.events("LeadAssigned", lead_id=lead.lead_id)
    assert len(assigned) == 1
    assert assigned[0].seller_id in {"s-1", "s-2"}
    assert assigned[0].respond_by > assigned[0].assigned_at
    seller = await rt.db["sellers"].find_one({"seller_id": assigned[0].seller_id})
    assert seller["open_leads"] == 1


async def test_d1_each_unmet_criterion_yields_a_rejection_naming_it(start_handoff, kafka_settings):
    org = new_org()
    rt = await start_handoff()
    await seed_sellers(rt, [seller_doc("s-1", org)])
    leads = {
        c: examples.lead_qualified(
            organisation_id=org, criteria=examples.criteria(**{c.value: False})
        )
        for c in Criterion
    }
    none_met = examples.lead_qualified(
        organisation_id=org,
        criteria=examples.criteria(benefit=False, ready_now=False, budget=False, authority=False),
    )
    malformed = examples.lead_qualified(
        organisation_id=org,
        prospect=examples.prospect(contact=ContactPerson(email="not-an-email"), locale="zz-ZZ"),
    )
    all_leads = [*leads.values(), none_met, malformed]
    async with TopicReader(kafka_settings.bootstrap_servers, HANDOFF) as reader:
        await publish_envelopes(
            kafka_settings.bootstrap_servers, [envelope(x, source="test") for x in all_leads]
        )
        for x in all_leads:
            await reader.wait_for_events("LeadRejected", lead_id=x.lead_id)
        ours = {x.lead_id for x in all_leads}
        assert not [e for e in reader.events("LeadAssigned") if e.lead_id in ours]
    for criterion, lead in leads.items():
        (rejection,) = reader.events("LeadRejected", lead_id=lead.lead_id)
        assert rejection.unmet_criteria == [criterion]
        assert rejection.source == lead.source  # back to the lead's source
        assert rejection.problems == []
    (everything,) = reader.events("LeadRejected", lead_id=none_met.lead_id)
    assert set(everything.unmet_criteria) == set(Criterion)
    (bad,) = reader.events("LeadRejected", lead_id=malformed.lead_id)
    assert bad.unmet_criteria == []
    assert any("bad email" in p for p in bad.problems)
    assert any("unknown locale" in p for p in bad.problems)
    assert rt.metrics.dead_letters.labels("handoff", "handler_error")._value.get() == 0


async def test_routing_round_robin_is_fair_over_100_leads_among_3_eligible_sellers(
    start_handoff, kafka_settings
):
    org = new_org()
    rt = await start_handoff()
    await seed_sellers(
        rt,
        [
            seller_doc("rr-a", org, capacity=40, regions=["Uusimaa"], languages=["fi"]),
            seller_doc("rr-b", org, capacity=40, products=["crm", "erp"]),
            seller_doc("rr-c", org, capacity=40),
            seller_doc("rr-wrong-region", org, regions=["Lappi"]),
            seller_doc("rr-swedish-only", org, languages=["sv"]),
            seller_doc("rr-inactive", org, active=False),
        ],
    )
    leads = [examples.lead_qualified(organisation_id=org) for _ in range(100)]
    async with TopicReader(kafka_settings.bootstrap_servers, HANDOFF) as reader:
        await publish_envelopes(
            kafka_settings.bootstrap_servers, [envelope(x, source="test") for x in leads]
        )
        await reader.wait_for(
            lambda r: len([e for e in r.events("LeadAssigned") if e.organisation_id == org]) >= 100,
            what="100 assignments",
        )
        await asyncio.sleep(0.2)
    assigned = [e for e in reader.events("LeadAssigned") if e.organisation_id == org]
    assert len(assigned) == 100 and len({e.lead_id for e in assigned}) == 100
    counts = Counter(e.seller_id for e in assigned)
    assert set(counts) == {"rr-a", "rr-b", "rr-c"}
    assert sorted(counts.values()) == [33, 33, 34]
    sellers = {d["seller_id"]: d async for d in rt.db["sellers"].find({"organisation_id": org})}
    assert all(sellers[s]["open_leads"] == n <= 40 for s, n in counts.items())


async def test_d2_same_prospect_from_a_second_source_is_linked_not_assigned_twice(
    start_handoff, kafka_settings
):
    org = new_org()
    rt = await start_handoff()
    await seed_sellers(rt, [seller_doc("s-1", org), seller_doc("s-2", org)])
    first = examples.lead_qualified(organisation_id=org)
    second = examples.lead_qualified(
        organisation_id=org,
        source=examples.LeadSource(system="partner-portal", partner="acme-booking"),
        prospect=examples.prospect(business_id=f"FI{first.prospect.business_id}"),
    )
    async with TopicReader(kafka_settings.bootstrap_servers, HANDOFF) as reader:
        await publish_envelopes(kafka_settings.bootstrap_servers, [envelope(first, source="t")])
        await reader.wait_for_events("LeadAssigned", lead_id=first.lead_id)
        await publish_envelopes(kafka_settings.bootstrap_servers, [envelope(second, source="t")])
        (link,) = await reader.wait_for_events("LeadLinkedAsDuplicate", lead_id=second.lead_id)
        assert not reader.events("LeadAssigned", lead_id=second.lead_id)
    assert link.linked_to_lead_id == first.lead_id and link.matched_on == "business_id"
    assert link.source.partner == "acme-booking"
    _ = rt


async def test_d4_a_closed_deal_is_credited_to_both_sources_of_a_duplicate(
    start_handoff, kafka_settings
):
    from kauppa.contracts import LeadVerdictSubmitted, Verdict
    from kauppa.handoff.domain.source_quality import source_quality
    from kauppa.handoff.repository import lead_facts

    org = new_org()
    rt = await start_handoff()
    await seed_sellers(rt, [seller_doc("s-1", org)])
    first = examples.lead_qualified(organisation_id=org)
    second = examples.lead_qualified(
        organisation_id=org,
        source=examples.LeadSource(system="partner-portal", partner="acme-booking"),
        prospect=examples.prospect(business_id=first.prospect.business_id),
    )
    bootstrap = kafka_settings.bootstrap_servers
    async with TopicReader(bootstrap, HANDOFF) as reader:
        await publish_envelopes(bootstrap, [envelope(first, source="t")])
        await reader.wait_for_events("LeadAssigned", lead_id=first.lead_id)
        await publish_envelopes(bootstrap, [envelope(second, source="t")])
        await reader.wait_for_events("LeadLinkedAsDuplicate", lead_id=second.lead_id)
        accept = LeadVerdictSubmitted(
            lead_id=first.lead_id,
            seller_id="s-1",
            verdict=Verdict.ACCEPT,
            submitted_at=first.qualified_at,
        )
        await publish_envelopes(bootstrap, [envelope(accept, source="tools")])
        await reader.wait_for_events("LeadAccepted", lead_id=first.lead_id)
    closed = examples.deal_closed(lead_id=first.lead_id, organisation_id=org)
    await publish_envelopes(bootstrap, [envelope(closed, source="closing")])

    async def both_closed() -> bool:
        n = await rt.db["leads"].count_documents(
            {"organisation_id": org, "closed_at": {"$ne": None}}
        )
        return n == 2

    await eventually(both_closed)
    facts = [lead_facts(d) async for d in rt.db["leads"].find({"organisation_id": org})]
    rows = {r.value: r.as_dict() for r in source_quality(facts, ["system"])}
    assert rows["marketing-automation"]["accepted"] == 1
    assert rows["marketing-automation"]["closed"] == 1
    assert rows["partner-portal"]["linked_as_duplicate"] == 1
    assert rows["partner-portal"]["accepted"] == 1 and rows["partner-portal"]["closed"] == 1


async def test_the_queue_index_holds_queued_leads_only_and_replaces_the_old_one(
    start_handoff, settings_for
):
    """Every lead used to enter a (organisation, status, queued_at) index that only the
    unassigned queue reads; now only queued leads do, and a database an earlier version
    made loses the old index when the service starts."""
    settings = settings_for(HandoffSettings, service_name="handoff", business_hours_only=False)
    client = connect(settings.mongo)
    old = [("organisation_id", 1), ("status", 1), ("queued_at", 1)]
    await client[settings.database]["leads"].create_index(old, name="queue")
    await client.close()
    rt = await start_handoff(settings=settings)
    leads = rt.db["leads"]
    names = {ix["name"] async for ix in await leads.list_indexes()}
    assert "queue" not in names and "queued" in names
    plan = await (
        leads.find({"organisation_id": {"$in": ["org-a", "org-b"]}, "status": "queued"})
        .sort("queued_at", 1)
        .explain()
    )
    assert "'indexName': 'queued'" in str(plan["queryPlanner"]["winningPlan"])
    await leads.insert_many(
        [
            {"_id": "l-queued", "organisation_id": "org-a", "status": "queued", "queued_at": 1},
            {"_id": "l-assigned", "organisation_id": "org-a", "status": "assigned"},
        ]
    )
    entries = await leads.find({}, hint="queued").to_list()
    assert [d["_id"] for d in entries] == ["l-queued"]
