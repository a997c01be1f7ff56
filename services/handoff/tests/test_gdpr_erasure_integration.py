"""GDPR erasure on a real broker and mongod: ``CustomerErased`` removes the contact person
from every lead about that customer (by customer id, business id and email), keeps what
statistics need, and a redelivery changes nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kauppa.contracts import (
    ContactPerson,
    CustomerErased,
    DealOpened,
    ReturnReason,
    Verdict,
    envelope,
    examples,
    topics,
)
from kauppa.devkit.testing import TopicReader, eventually, publish_envelopes
from kauppa.devkit.testing.http import bearer
from kauppa.handoff.repository import LEADS
from kauppa.servicekit.pipeline import was_handled

from .support import new_org, seed_sellers, seller_doc, verdict

pytestmark = pytest.mark.integration

HANDOFF = topics.LEADS_HANDOFF.name
PERSONAL = ("Erkki", "erkki", "Virtanen", "virtanen", "+358 40 111 2222", "Pekka", "pekka")


def lead(org: str, business_id: str | None, contact: ContactPerson, **kw: Any) -> Any:
    return examples.lead_qualified(
        organisation_id=org,
        prospect=examples.prospect(
            company_name=kw.pop("company_name", "Paja Oy"),
            business_id=business_id,
            contact=contact,
        ),
        **kw,
    )


async def test_gdpr_customer_erased_removes_the_contact_person_and_keeps_the_statistics(
    service, kafka_settings
):
    rt, client = service
    org = new_org()
    await seed_sellers(rt, [seller_doc("s-1", org)])
    erkki = ContactPerson(
        name="Erkki Virtanen",
        title="CEO",
        email="Erkki.Virtanen@erkinpaja.fi",
        phone="+358 40 111 2222",
    )
    # Each lead is found by one key only, so each matching rule is proven on its own:
    # by customer id (closing opened a deal for it), by business id, by email.
    by_customer = lead(org, examples.business_id(), erkki.model_copy(update={"email": None}))
    bid = examples.business_id()
    by_business_id = lead(
        org,
        bid,
        ContactPerson(name="Pekka Virtanen", email="pekka@gmail.com", phone="+358 40 111 2222"),
    )
    by_email = lead(org, None, erkki, company_name="Erkin Paja")
    other = lead(org, examples.business_id(), examples.prospect().contact, company_name="Muu Oy")
    leads = [by_customer, by_business_id, by_email, other]
    bootstrap = kafka_settings.bootstrap_servers
    async with TopicReader(bootstrap, HANDOFF) as reader:
        await publish_envelopes(bootstrap, [envelope(x, source="t") for x in leads])
        for x in leads:
            await reader.wait_for_events("LeadAssigned", lead_id=x.lead_id)
        deal_opened = DealOpened(
            deal_id="deal-1",
            lead_id=by_customer.lead_id,
            organisation_id=org,
            customer_id="cust-4711",
            seller_id="s-1",
            prospect=by_customer.prospect,
            stage="discovery",
            opened_at=datetime.now(UTC),
        )
        await publish_envelopes(
            bootstrap,
            [
                envelope(verdict(by_customer.lead_id, "s-1", Verdict.ACCEPT), source="tools"),
                envelope(deal_opened, source="closing"),
            ],
        )
        # One verdict over HTTP: the kit caches the answer under its Idempotency-Key.
        returned = {
            "verdict": "return",
            "reason_code": ReturnReason.OTHER.value,
            "reason_text": "Erkki Virtanen asked us to call back in May",
        }
        seller = {**bearer(rt.settings, "s-1", "seller"), "Idempotency-Key": "ret-1"}
        answer = await client.post(
            f"/leads/{by_email.lead_id}/verdict", json=returned, headers=seller
        )
        assert answer.status_code == 200, answer.text
        assert "Erkki" in answer.text
        await reader.wait_for_events("LeadAccepted", lead_id=by_customer.lead_id)
        await reader.wait_for_events("LeadReturned", lead_id=by_email.lead_id)

    async def deal_recorded() -> bool:
        doc = await rt.db[LEADS].find_one({"_id": by_customer.lead_id})
        return doc is not None and doc.get("customer_id") == "cust-4711"

    await eventually(deal_recorded)
    ops = bearer(rt.settings, "ops-1", "ops")
    stats_before = (
        await client.get("/stats/sources", params={"organisation_id": org}, headers=ops)
    ).json()
    before = {d["_id"]: d async for d in rt.db[LEADS].find({"organisation_id": org})}
    assert before[by_email.lead_id]["return_text"].startswith("Erkki")

    erased = CustomerErased(
        customer_id="cust-4711",
        organisation_id=org,
        business_id=f"FI{bid.replace('-', '')}",  # another spelling of the same id
        email="ERKKI.virtanen+gdpr@erkinpaja.fi",
        requested_by="dpo@kauppa.example",
        erased_at=datetime.now(UTC),
    )
    env = envelope(erased, source="test")
    await publish_envelopes(bootstrap, [env])
    gone = [by_customer.lead_id, by_business_id.lead_id, by_email.lead_id]

    async def all_erased() -> bool:
        n = await rt.db[LEADS].count_documents({"_id": {"$in": gone}, "erased_at": {"$ne": None}})
        return n == len(gone)

    await eventually(all_erased)
    after = {d["_id"]: d async for d in rt.db[LEADS].find({"organisation_id": org})}
    for lead_id in gone:
        doc, old = after[lead_id], before[lead_id]
        text = repr(doc)
        assert not any(p in text for p in PERSONAL), text
        assert doc["prospect"]["contact"] is None and doc["identity"]["email"] is None
        assert all(c["evidence"] is None for c in doc["criteria"].values())
        assert "return_text" not in doc
        # Not personal: ids, company, source, statuses, verdicts, dates, counts stay.
        for key in (
            "organisation_id",
            "status",
            "source",
            "seller_id",
            "received_at",
            "verdict",
            "return_reason",
            "attempt",
            "reminders",
            "reassignments",
        ):
            assert doc.get(key) == old.get(key), key
        assert doc["prospect"]["company_name"] == old["prospect"]["company_name"]
        assert doc["identity"]["business_id"] == old["identity"]["business_id"]
        assert [c["met"] for c in doc["criteria"].values()] == [
            c["met"] for c in old["criteria"].values()
        ]
        view = (await client.get(f"/leads/{lead_id}", headers=ops)).json()
        assert view["prospect"]["contact"] is None and not view.get("return_text")
        assert not any(p in repr(view) for p in PERSONAL)
    # A replay of the cached verdict answer shows no contact person either.
    replay = await client.post(f"/leads/{by_email.lead_id}/verdict", json=returned, headers=seller)
    assert replay.status_code == 200 and replay.json()["lead_id"] == by_email.lead_id
    assert not any(p in replay.text for p in PERSONAL), replay.text
    assert after[by_customer.lead_id]["customer_id"] == "cust-4711"
    assert after[other.lead_id] == before[other.lead_id]  # someone else: untouched
    stats_after = (
        await client.get("/stats/sources", params={"organisation_id": org}, headers=ops)
    ).json()
    assert stats_after["sources"] == stats_before["sources"]
    assert stats_after["leads"] == 4

    # Redelivery: the same event id (inbox drops it) and the request again under a new id,
    # later (a lead erased before is not erased again), change nothing.
    later = erased.model_copy(update={"erased_at": erased.erased_at + timedelta(days=1)})
    again = envelope(later, source="test")
    await publish_envelopes(bootstrap, [env, again])

    async def redelivered() -> bool:
        return await was_handled(rt.db, again.id)

    await eventually(redelivered)
    await asyncio.sleep(0.2)
    assert {d["_id"]: d async for d in rt.db[LEADS].find({"organisation_id": org})} == after
