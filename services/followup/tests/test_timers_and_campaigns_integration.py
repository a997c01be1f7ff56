"""Durable contact timers and D17 campaigns at volume, on a real broker and mongod."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from kauppa.bench.scenarios.followup import seed_customers
from kauppa.contracts import from_kafka
from kauppa.contracts.cloudevents import header_map
from kauppa.contracts.topics import CAMPAIGNS, CONTACTS_DUE
from kauppa.devkit.testing import TopicReader
from kauppa.followup.repository import CONTACTS, CUSTOMERS
from kauppa.servicekit.clock import ManualClock
from kauppa.servicekit.unit_of_work import TIMERS

from .support import START, http, started, token

pytestmark = pytest.mark.integration


def contact_dues_for(out: TopicReader, prefix: str) -> list:
    """ContactDue events of our customers (filtered by header first: cheap)."""
    mine = []
    for r in out.records:
        h = header_map(r.headers)
        if ".ContactDue." in h.get("ce_type", "") and h.get("ce_subject", "").startswith(prefix):
            mine.append(from_kafka(r.headers, r.value).event)
    return mine


def count_subject(out: TopicReader, prefix: str) -> int:
    return sum(
        1
        for r in out.records
        if header_map(r.headers).get("ce_subject", "").startswith(prefix)
        and b"ContactDue" in dict(r.headers).get("ce_type", b"")
    )


async def test_two_replicas_never_fire_the_same_contact(infra, settings_for, runtimes):
    clock = ManualClock(START)
    a = await started(
        settings_for, runtimes, clock, timer_batch=50, consume_topics=["kauppa.leads.qualified"]
    )
    b_settings = a.settings.model_copy()
    from kauppa.followup.bootstrap import build_runtime

    b = build_runtime(b_settings, clock=clock)
    runtimes.append(b)
    await b.start()
    prefix = f"r{uuid.uuid4().hex[:6]}"
    due = START + timedelta(minutes=5)
    async with TopicReader(infra.kafka_bootstrap_servers, CONTACTS_DUE.name) as out:
        await seed_customers(
            a.db,
            400,
            due_at=lambda i: due,
            last_contact_at=START - timedelta(days=30),
            prefix=prefix,
        )
        clock.advance(timedelta(minutes=6))
        a.timers.wake()
        b.timers.wake()
        await out.wait_for(
            lambda o: count_subject(o, prefix) >= 400, timeout=30, what="400 ContactDue"
        )
        await asyncio.sleep(1.0)  # room for any (wrong) second firing to show
        dues = contact_dues_for(out, prefix)
    per_contact = Counter(d.contact_id for d in dues)
    assert len(per_contact) == 400 and set(per_contact.values()) == {1}
    fired_a = a.metrics.timers_fired.labels("followup", "contact_due")._value.get()
    fired_b = b.metrics.timers_fired.labels("followup", "contact_due")._value.get()
    assert fired_a + fired_b == 400 and fired_a > 0 and fired_b > 0, "both replicas worked"
    assert (
        await a.db[CONTACTS].count_documents(
            {"state": "due", "customer_id": {"$regex": f"^{prefix}"}}
        )
        == 400
    )
    # every customer still has a next contact: the repeat reminder
    assert await a.db[CUSTOMERS].count_documents({"next_contact_due_at": None, "active": True}) == 0


async def test_d17_campaign_over_10000_customers_sent_twice_creates_exactly_10000(
    infra, settings_for, runtimes
):
    clock = ManualClock(START)
    rt = await started(
        settings_for,
        runtimes,
        clock,
        campaign_step_size=2500,
        campaign_step_interval_seconds=0,
        timer_batch=1000,
        consume_topics=["kauppa.leads.qualified"],
    )
    prefix = f"k{uuid.uuid4().hex[:6]}"
    tag = f"law-{prefix}"
    await seed_customers(
        rt.db,
        12_000,
        due_at=lambda i: START + timedelta(days=100),
        last_contact_at=START - timedelta(days=30),
        prefix=prefix,
        organisation_id="org-campaign",
        attributes=lambda i: {"industry": "retail", "tags": [tag] if i < 10_000 else []},
    )
    command = {
        "campaign_id": f"cmp-{prefix}",
        "organisation_id": "org-campaign",
        "criteria": {"industries": ["retail"], "tags": [tag]},
        "reason": "E-invoicing becomes mandatory: offer the upgrade",
        "due_from": START.isoformat(),
        "due_until": (START + timedelta(seconds=10)).isoformat(),
    }
    ops = token(rt, "ops-1", "ops")
    async with (
        TopicReader(infra.kafka_bootstrap_servers, CONTACTS_DUE.name, CAMPAIGNS.name) as out,
        http(rt) as api,
    ):
        first = await api.post("/campaigns", json=command, headers=ops)
        second = await api.post("/campaigns", json=command, headers=ops)
        assert first.status_code == 202 and first.json()["matched"] == 10_000
        assert second.status_code == 200 and second.json()["created"] is False
        clock.advance(timedelta(seconds=11))  # the whole window is due
        rt.timers.wake()
        await out.wait_for_events(
            "SegmentCampaignCompleted", campaign_id=command["campaign_id"], timeout=60
        )
        await asyncio.sleep(1.0)
        dues = contact_dues_for(out, prefix)
        progress = (await api.get(f"/campaigns/{command['campaign_id']}", headers=ops)).json()
    assert len(dues) == 10_000
    assert len({d.contact_id for d in dues}) == 10_000
    assert {d.campaign_id for d in dues} == {command["campaign_id"]}
    assert dues[0].talking_points[0].code == "campaign_reason"
    assert progress["state"] == "completed" and progress["fired"] == 10_000
    [completed] = out.events("SegmentCampaignCompleted", campaign_id=command["campaign_id"])
    assert completed.contacts_created == 10_000
    assert len(out.events("SegmentCampaignStarted", campaign_id=command["campaign_id"])) == 1


async def test_d16_audit_counts_and_repairs_violations(infra, settings_for, runtimes):
    clock = ManualClock(START)
    rt = await started(settings_for, runtimes, clock, consume_topics=["kauppa.leads.qualified"])
    prefix = f"a{uuid.uuid4().hex[:6]}"
    ids = await seed_customers(
        rt.db,
        30,
        due_at=lambda i: START + timedelta(days=60),
        last_contact_at=START - timedelta(days=30),
        prefix=prefix,
    )
    # Break three customers three ways: none, too late, and a lost timer.
    await rt.db[CUSTOMERS].update_one(
        {"_id": ids[0]}, {"$set": {"next_contact_due_at": None, "next_contact": None}}
    )
    await rt.db[CUSTOMERS].update_one(
        {"_id": ids[1]}, {"$set": {"next_contact_overshoot_s": 86400.0}}
    )
    lost = await rt.db[CUSTOMERS].find_one({"_id": ids[2]})
    await rt.db[CUSTOMERS].update_one(
        {"_id": ids[2]}, {"$set": {"next_contact_due_at": START - timedelta(days=2)}}
    )
    await rt.db[TIMERS].delete_one({"_id": f"contact:{lost['next_contact']['contact_id']}"})
    ops = token(rt, "ops-1", "ops")
    async with (
        TopicReader(infra.kafka_bootstrap_servers, CONTACTS_DUE.name) as out,
        http(rt) as api,
    ):
        found = (await api.post("/audit", headers=ops)).json()
        assert found["violations"] == {"missing": 1, "beyond_deadline": 1, "stuck": 1}
        assert found["repaired"] == 3
        again = (
            await api.post("/audit?repair=false", headers={**ops, "Idempotency-Key": "x"})
        ).json()
        assert again["total"] == 0
        assert (await api.get("/audit", headers=ops)).json()["total"] == 0
        value = rt.metrics.registry.get_sample_value(
            "kauppa_followup_invariant_violations", {"service": "followup", "violation": "missing"}
        )
        assert value == 0
        # The missing and the too-late customer have a live timer again, inside the deadline.
        for cid in ids[:2]:
            doc = await rt.db[CUSTOMERS].find_one({"_id": cid})
            key = f"contact:{doc['next_contact']['contact_id']}"
            timer = await rt.db[TIMERS].find_one({"_id": key})
            assert timer is not None and timer["state"] == "scheduled"
            assert timer["due_at"] > START
        # The stuck one is overdue, so its re-armed timer fires at once: its contact comes
        # due, and the fired contact leaves a repeat reminder with a live timer (D15).
        rt.timers.wake()
        await out.wait_for_events("ContactDue", customer_id=ids[2], timeout=20)
        stuck = await rt.db[CUSTOMERS].find_one({"_id": ids[2]})
        key = f"contact:{stuck['next_contact']['contact_id']}"
        assert await rt.db[TIMERS].find_one({"_id": key, "state": "scheduled"}) is not None
