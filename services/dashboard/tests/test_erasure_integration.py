"""Issue #18, erasure without holes on the dashboard: it erases what it holds (company
names, lost reasons); an event processed after the erasure stores nothing personal; a
dead letter of an erased customer is refused at replay."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from kauppa.contracts import (
    ConfirmationFailed,
    CustomerErased,
    DealLost,
    envelope,
    examples,
    to_kafka,
)
from kauppa.contracts.topics import dead_letter_topic
from kauppa.devkit.embedded.servers import free_port
from kauppa.devkit.testing import publish_raw
from kauppa.servicekit.deadletters import RawRecord, dead_letter_record
from kauppa.servicekit.kafka_admin import create_topics

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


async def test_dead_letters_naming_an_erased_business_id_or_email_are_refused(
    infra, start_dashboard
):
    """A LeadQualified carries no customer id: only the prospect's business id and the
    contact's email tie it to the erased customer (as handoff and closing match an
    erasure). Matched per organisation: the same company in another organisation's
    letter is replayed."""
    service = f"svc-{uuid.uuid4().hex[:8]}"
    rt = await start_dashboard(service_urls={service: f"http://127.0.0.1:{free_port()}"})
    await create_topics(infra.kafka_bootstrap_servers, [dead_letter_topic(service)])
    tag = uuid.uuid4().hex[:8]
    business_id, email = examples.business_id(), f"maija.{tag}@esimerkki.fi"
    by_business_id = examples.lead_qualified(
        prospect=examples.prospect(business_id=business_id, contact=None)
    )
    contact = examples.prospect().contact.model_copy(update={"email": email.upper()})
    by_email = examples.lead_qualified(
        prospect=examples.prospect(business_id=None, contact=contact)
    )
    # The same company as a prospect of another organisation: not erased there.
    elsewhere = examples.lead_qualified(
        organisation_id="org-other",
        prospect=examples.prospect(business_id=business_id, contact=None),
    )
    envs = [envelope(e, source="t") for e in (by_business_id, by_email, elsewhere)]
    await publish_raw(
        infra.kafka_bootstrap_servers,
        [
            dead_letter_record(service, RawRecord(topic, 0, i, key, value, headers), "x", "y")
            for i, (topic, key, value, headers) in enumerate(to_kafka(env) for env in envs)
        ],
    )
    spelt_otherwise = f"FI{business_id.replace('-', '')}"
    erasure = _erased(f"c-{tag}").model_copy(update={"business_id": spelt_otherwise})
    await rt.pipeline.process_envelopes([envelope(erasure, source="t")])
    erasure = _erased(f"c2-{tag}").model_copy(update={"email": email})
    await rt.pipeline.process_envelopes([envelope(erasure, source="t")])
    stored = str(await rt.db["erased_identities"].find({}).to_list())
    assert email not in stored, "the erased email is kept as a digest only"
    async with client_for(rt) as http:
        listed = await http.get(f"/api/deadletters/{service}", headers=bearer(rt, "admin"))
        ids = {d["ce_id"]: d["id"] for d in listed.json()["dead_letters"]}
        r = await http.post(
            f"/api/deadletters/{service}/replay", headers=bearer(rt, "admin"), json={}
        )
        assert r.status_code == 200, r.text
    assert r.json()["replayed"] == [ids[envs[2].id]], r.json()
    assert sorted(r.json()["refused_erased"]) == sorted([ids[envs[0].id], ids[envs[1].id]])


async def test_confirmation_failures_stored_before_the_erasure_are_blanked(start_dashboard):
    rt = await start_dashboard()
    customer = f"c-{uuid.uuid4().hex[:8]}"
    closed = examples.deal_closed(customer_id=customer)
    failed = ConfirmationFailed(
        deal_id=closed.deal_id,
        organisation_id=closed.organisation_id,
        seller_id=closed.seller.seller_id,
        version=1,
        reason="550 mailbox maija.meikalainen@esimerkki.fi unknown",
        permanent=True,
        attempts=1,
        failed_at=datetime.now(UTC),
    )
    await rt.pipeline.process_envelopes(
        [envelope(closed, source="t"), envelope(failed, source="t")]
    )
    assert (await rt.db["confirmation_failures"].find_one({"deal_id": closed.deal_id}))[
        "reason"
    ] == failed.reason
    await rt.pipeline.process_envelopes([envelope(_erased(customer), source="t")])
    doc = await rt.db["confirmation_failures"].find_one({"deal_id": closed.deal_id})
    assert doc["reason"] == "(erased)", doc
