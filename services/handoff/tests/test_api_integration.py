"""The HTTP API on a real broker and mongod: CloudEvents intake shares the Kafka path's
idempotency; the roster, the unassigned queue, verdicts and source quality (D2-D4)."""

from __future__ import annotations

import asyncio

import pytest
from kauppa.contracts import envelope, examples, to_structured, topics
from kauppa.devkit.testing import TopicReader, eventually, publish_envelopes
from kauppa.devkit.testing.http import bearer
from kauppa.servicekit.runtime import ServiceRuntime

from .support import new_org, seed_sellers, seller_doc

pytestmark = pytest.mark.integration

HANDOFF = topics.LEADS_HANDOFF.name


def auth(rt: ServiceRuntime, subject: str, *roles: str) -> dict[str, str]:
    return bearer(rt.settings, subject, *roles)


async def test_http_ingested_lead_and_the_same_lead_via_kafka_produce_one_assignment(
    service, kafka_settings
):
    rt, client = service
    org = new_org()
    await seed_sellers(rt, [seller_doc("s-1", org)])
    lead = examples.lead_qualified(organisation_id=org)
    env = envelope(lead, source="crm-without-kafka")
    intake = auth(rt, "upstream-crm", "intake")
    async with TopicReader(kafka_settings.bootstrap_servers, HANDOFF) as reader:
        response = await client.post(
            "/intake/lead-qualified", json=to_structured(env), headers=intake
        )
        assert response.status_code == 202, response.text
        assert response.json()["duplicate"] is False
        await publish_envelopes(kafka_settings.bootstrap_servers, [env])
        await reader.wait_for_events("LeadAssigned", lead_id=lead.lead_id)

        async def kafka_copy_dropped() -> bool:
            dups = rt.metrics.events_duplicate.labels("handoff", "LeadQualified")._value.get()
            return dups >= 1

        await eventually(kafka_copy_dropped)
        again = await client.post("/intake/lead-qualified", json=to_structured(env), headers=intake)
        assert again.status_code == 202 and again.json()["duplicate"] is True
        await asyncio.sleep(0.3)
        assert len(reader.events("LeadAssigned", lead_id=lead.lead_id)) == 1


async def test_http_intake_refuses_bad_documents_and_wrong_roles(service):
    rt, client = service
    env = envelope(examples.lead_qualified(), source="t")
    doc = to_structured(env)
    intake = auth(rt, "upstream-crm", "intake")
    no_data = {k: v for k, v in doc.items() if k != "data"}
    r = await client.post("/intake/lead-qualified", json=no_data, headers=intake)
    assert r.status_code == 400 and "no data" in r.json()["detail"]
    broken = {**doc, "data": {**doc["data"], "lead_id": ""}}
    r = await client.post("/intake/lead-qualified", json=broken, headers=intake)
    assert r.status_code == 400 and "lead_id" in r.json()["detail"]
    r = await client.post("/intake/lead-qualified", content=b"{nope", headers=intake)
    assert r.status_code == 400
    r = await client.post("/intake/lead-qualified", json=doc, headers=auth(rt, "s", "seller"))
    assert r.status_code == 403
    r = await client.post("/intake/lead-qualified", json=doc)
    assert r.status_code == 401


async def test_roster_queue_verdict_and_source_quality_over_http(service, kafka_settings):
    rt, client = service
    org = new_org()
    ops = auth(rt, "ops-1", "ops")
    intake = auth(rt, "upstream", "intake")
    leads = [
        examples.lead_qualified(organisation_id=org, prospect=examples.prospect(region="Lappi")),
        examples.lead_qualified(
            organisation_id=org, criteria=examples.criteria(budget=False, authority=False)
        ),
    ]
    for lead in leads:
        r = await client.post(
            "/intake/lead-qualified", json=to_structured(envelope(lead, source="t")), headers=intake
        )
        assert r.status_code == 202
    # Nobody on the roster yet: the good lead waits, visibly.
    queue = (await client.get("/queue", params={"organisation_id": org}, headers=ops)).json()
    assert [x["lead_id"] for x in queue["leads"]] == [leads[0].lead_id]

    async with TopicReader(kafka_settings.bootstrap_servers, HANDOFF) as reader:
        profile = {"organisation_id": org, "name": "Sanna", "regions": ["Lappi"], "capacity": 5}
        r = await client.put(
            "/sellers/seller-lappi", json=profile, headers={**ops, "Idempotency-Key": "k1"}
        )
        assert r.status_code == 201, r.text
        assert r.json()["queued_leads_assigned"] == [leads[0].lead_id]
        (assigned,) = await reader.wait_for_events("LeadAssigned", lead_id=leads[0].lead_id)
        assert assigned.seller_id == "seller-lappi"
        listed = (await client.get("/sellers", params={"organisation_id": org}, headers=ops)).json()
        assert [s["seller_id"] for s in listed] == ["seller-lappi"] and listed[0]["open_leads"] == 1

        seller = auth(rt, "seller-lappi", "seller")
        path = f"/leads/{leads[0].lead_id}/verdict"
        r = await client.post(path, json={"verdict": "return"}, headers=seller)
        assert r.status_code == 422  # a return needs a reason code
        r = await client.post(
            path, json={"verdict": "accept"}, headers=auth(rt, "someone-else", "seller")
        )
        assert r.status_code == 404  # another seller's lead does not exist to this one
        r = await client.post(
            path,
            json={"verdict": "return", "reason_code": "not_ready_now"},
            headers={**seller, "Idempotency-Key": "v1"},
        )
        assert r.status_code == 200 and r.json()["status"] == "returned"
        (back,) = await reader.wait_for_events("LeadReturned", lead_id=leads[0].lead_id)
        assert back.source == leads[0].source and back.reason_code == "not_ready_now"

    r = await client.get(
        "/stats/sources", params={"organisation_id": org, "by": "campaign"}, headers=ops
    )
    assert r.status_code == 200
    (row,) = r.json()["sources"]
    assert row["value"] == "spring-2026" and row["received"] == 2
    assert row["rejected"] == 1 and row["rejected_by_criterion"] == {"authority": 1, "budget": 1}
    assert row["assigned"] == 1 and row["returned"] == 1 and row["accepted"] == 0
    assert row["returned_by_reason"] == {"not_ready_now": 1}
    assert row["acceptance_rate"] == 0.0 and row["suitable_rate"] == 0.5
    r = await client.get("/stats/sources", params={"organisation_id": org}, headers=seller)
    assert r.status_code == 403


async def test_a_token_bound_to_an_organisation_acts_in_it_only(service):
    """Tenant scope: ops, intake and sellers of org A neither see nor change org B's
    roster, queue, leads or statistics; a platform token (no org claim) may name any."""
    rt, client = service
    org_a, org_b = new_org(), new_org()

    def bound(subject: str, org: str, *roles: str) -> dict[str, str]:
        return bearer(rt.settings, subject, *roles, organisation_id=org)

    ops_a, ops_b = bound("ops-a", org_a, "ops"), bound("ops-b", org_b, "ops")
    platform = auth(rt, "ops-x", "ops")
    lead_b = examples.lead_qualified(organisation_id=org_b)
    doc_b = to_structured(envelope(lead_b, source="t"))
    r = await client.post(
        "/intake/lead-qualified", json=doc_b, headers=bound("crm-a", org_a, "intake")
    )
    assert r.status_code == 403
    r = await client.post(
        "/intake/lead-qualified", json=doc_b, headers=bound("crm-b", org_b, "intake")
    )
    assert r.status_code == 202
    await seed_sellers(rt, [seller_doc("seller-b", org_b)])

    for path in ("/queue", "/sellers", "/stats/sources"):
        r = await client.get(path, params={"organisation_id": org_b}, headers=ops_a)
        assert r.status_code == 403, path
        r = await client.get(path, params={"organisation_id": org_b}, headers=platform)
        assert r.status_code == 200, path
        assert (await client.get(path, headers=platform)).status_code == 422, path
    # Without a parameter a bound token gets its own organisation.
    own = (await client.get("/sellers", headers=ops_b)).json()
    assert [s["seller_id"] for s in own] == ["seller-b"]
    assert (await client.get("/sellers", headers=ops_a)).json() == []

    r = await client.put(
        "/sellers/seller-a2",
        json={"organisation_id": org_b, "name": "Mallory"},
        headers={**ops_a, "Idempotency-Key": "t1"},
    )
    assert r.status_code == 403
    r = await client.put(
        "/sellers/seller-b",
        json={"organisation_id": org_a, "name": "Taken over"},
        headers={**ops_a, "Idempotency-Key": "t2"},
    )
    # Seller ids are per organisation: A's seller-b is another seller than B's.
    assert r.status_code == 201
    own = (await client.get("/sellers", headers=ops_b)).json()
    assert [(s["seller_id"], s["name"]) for s in own] == [("seller-b", "seller-b")]

    # One subject, one Idempotency-Key, two organisations: two different commands (the
    # second is not taken for a reuse of the first's key with another body).
    for org in (org_a, org_b):
        r = await client.put(
            "/sellers/seller-twin",
            json={"organisation_id": org, "name": "Twin", "active": False},
            headers={**bound("ops-same", org, "ops"), "Idempotency-Key": "same-key"},
        )
        assert r.status_code == 201, r.text  # and per organisation, two sellers

    async def routed() -> bool:
        r = await client.get(f"/leads/{lead_b.lead_id}", headers=ops_b)
        return r.status_code == 200 and r.json().get("seller_id") == "seller-b"

    await client.put(
        "/sellers/seller-b",
        json={"organisation_id": org_b, "name": "Bea"},
        headers={**ops_b, "Idempotency-Key": "t3"},
    )
    await eventually(routed)
    r = await client.get(f"/leads/{lead_b.lead_id}", headers=ops_a)
    assert r.status_code == 404
    r = await client.post(
        f"/leads/{lead_b.lead_id}/verdict",
        json={"verdict": "accept"},
        headers=bound("seller-b", org_a, "seller"),
    )
    assert r.status_code == 404
