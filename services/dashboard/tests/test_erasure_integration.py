"""Issue #18, erasure without holes on the dashboard: it erases what it holds (company
names, lost reasons); an event processed after the erasure stores nothing personal; a
dead letter of an erased customer is refused at replay."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from kauppa.contracts import CustomerErased, DealLost, envelope, examples, to_kafka
from kauppa.contracts.topics import dead_letter_topic
from kauppa.servicekit.deadletters import RawRecord, dead_letter_record
from kauppa.servicekit.embedded.servers import free_port
from kauppa.servicekit.kafka_admin import create_topics
from kauppa.servicekit.testing import publish_raw

from .test_dashboard_integration import bearer, client_for

pytestmark = pytest.mark.integration


def _erased(customer_id: str) -> CustomerErased:
    return CustomerErased(
        customer_id=customer_id,
        organisation_id="org-demo",
        requested_by="dpo",
        erased_at=datetime.now(UTC),
    )


async def test_events_after_the_erasure_store_nothing_personal(start_dashboard):
    rt = await start_dashboard()
    lost_customer, late_customer = f"c-{uuid.uuid4().hex[:8]}", f"c-{uuid.uuid4().hex[:8]}"
    before = examples.deal_closed(customer_id=lost_customer)
    lost = DealLost(
        deal_id=before.deal_id,
        lead_id=before.lead_id or "lead-1",
        organisation_id="org-demo",
        seller_id="seller-1",
        reason="Maija Meikäläinen moved to Oulu",
        lost_at=datetime.now(UTC),
    )
    await rt.pipeline.process_envelopes([envelope(before, source="t"), envelope(lost, source="t")])
    await rt.pipeline.process_envelopes([envelope(_erased(lost_customer), source="t")])
    deal = await rt.db["deals"].find_one({"_id": before.deal_id})
    assert deal["company"] == "(erased)" and deal["lost_reason"] == "(erased)", deal

    # DealClosed processed after CustomerErased (another topic, no ordering).
    await rt.pipeline.process_envelopes([envelope(_erased(late_customer), source="t")])
    late = examples.deal_closed(customer_id=late_customer)
    await rt.pipeline.process_envelopes([envelope(late, source="t")])
    doc = await rt.db["deals"].find_one({"_id": late.deal_id})
    assert doc is not None and doc["company"] == "(erased)"
    assert late.customer.company_name not in str(doc)
    again = DealLost(**{**lost.model_dump(), "deal_id": late.deal_id})
    await rt.pipeline.process_envelopes([envelope(again, source="t")])
    doc = await rt.db["deals"].find_one({"_id": late.deal_id})
    assert doc["lost_reason"] == "(erased)"


async def test_a_dead_letter_of_an_erased_customer_is_refused_at_replay(infra, start_dashboard):
    service = f"svc-{uuid.uuid4().hex[:8]}"
    rt = await start_dashboard(service_urls={service: f"http://127.0.0.1:{free_port()}"})
    await create_topics(infra.kafka_bootstrap_servers, [dead_letter_topic(service)])
    customer = f"c-{uuid.uuid4().hex[:8]}"
    topic, key, value, headers = to_kafka(
        envelope(examples.deal_closed(customer_id=customer), source="t")
    )
    await publish_raw(
        infra.kafka_bootstrap_servers,
        [dead_letter_record(service, RawRecord(topic, 0, 7, key, value, headers), "x", "y")],
    )
    await rt.pipeline.process_envelopes([envelope(_erased(customer), source="t")])
    async with client_for(rt) as http:
        r = await http.post(
            f"/api/deadletters/{service}/replay", headers=bearer(rt, "admin"), json={}
        )
        assert r.status_code == 200, r.text
        assert r.json()["replayed"] == [] and len(r.json()["refused_erased"]) == 1
