"""GDPR erasure (CustomerErased on kauppa.privacy) on the real broker and mongod."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from kauppa.contracts import ContactPerson, CustomerErased, envelope, examples
from kauppa.devkit.testing import eventually, publish_envelopes
from kauppa.servicekit.pipeline import was_handled

from .conftest import T0, Closing, ClosingFactory, close_body, lead_accepted

pytestmark = pytest.mark.integration

CONTACT_EMAIL = "maija@esimerkki.fi"
PERSONAL = (
    "Maija",  # contact name and the signer ("signed_by": "Maija")
    CONTACT_EMAIL,
    "+358 40 123 4567",
    "Toimitusjohtaja",
    "Pekka",  # a referral the erased customer gave
    "pekka@naapuri.fi",
    "told Maija's budget",  # free-text contact summary
    "Maija went for a competitor",  # free-text loss reason
)


async def deal_doc(svc: Closing, deal_id: str) -> dict[str, Any]:
    deal = await svc.runtime.db["deals"].find_one({"_id": deal_id})
    assert deal is not None
    return deal


async def test_gdpr_customer_erased_anonymises_contact_referrals_and_notes(
    infra, closing: ClosingFactory
):
    svc = await closing(consume=True)
    await svc.put_card()
    bootstrap = infra.kafka_bootstrap_servers

    # The erased customer: two deals (one won with a referral, one lost), created the
    # normal way: LeadAccepted over the broker, then the seller's commands over HTTP.
    erased_lead = lead_accepted()
    business_id = erased_lead.prospect.business_id
    second_lead = lead_accepted(prospect=erased_lead.prospect)
    # Another customer of the same organisation, who names the erased person as a referral.
    other_lead = lead_accepted(
        prospect=examples.prospect(
            company_name="Toinen Oy",
            contact=ContactPerson(name="Ville Virtanen", email="ville@toinen.fi"),
        )
    )
    await publish_envelopes(
        bootstrap, [envelope(x, source="test") for x in (erased_lead, second_lead, other_lead)]
    )
    won, lost, other = (f"deal-{x.lead_id}" for x in (erased_lead, second_lead, other_lead))

    async def opened() -> bool:
        return (
            await svc.runtime.db["deals"].count_documents({"_id": {"$in": [won, lost, other]}}) == 3
        )

    await eventually(opened, timeout=30.0)
    r = await svc.post(
        f"/deals/{won}/contacts", {"channel": "phone", "summary": "Maija told Maija's budget"}
    )
    assert r.status_code == 201, r.text
    body = close_body(
        referrals=[{"name": "Pekka", "company": "Naapuri Oy", "email": "pekka@naapuri.fi"}]
    )
    assert (await svc.post(f"/deals/{won}/close", body)).status_code == 201
    r = await svc.post(f"/deals/{lost}/lose", {"reason": "Maija went for a competitor"})
    assert r.status_code == 201, r.text
    referral = {"name": "Maija M.", "company": "Esimerkki Oy", "email": CONTACT_EMAIL.upper()}
    assert (await svc.post(f"/deals/{other}/referrals", referral)).status_code == 201
    assert (await svc.post(f"/deals/{other}/referrals", {"name": "Liisa"})).status_code == 201

    before = await deal_doc(svc, won)
    customer_id = before["customer_id"]
    assert before["prospect"]["contact"]["email"] == CONTACT_EMAIL
    timer_before = await svc.runtime.db["_timers"].find_one({"_id": f"stale:{other}"})

    erasure = CustomerErased(
        customer_id=customer_id,
        organisation_id="org-demo",
        business_id=business_id,
        email=CONTACT_EMAIL,
        requested_by="privacy-officer",
        erased_at=T0 + timedelta(days=1),
    )
    first = envelope(erasure, source="test")
    await publish_envelopes(bootstrap, [first])

    async def handled(env_id: str) -> bool:
        return await was_handled(svc.runtime.db, env_id)

    await eventually(lambda: handled(first.id), timeout=30.0)

    # The database: no personal data left on the customer's deals, history included.
    for deal_id in (won, lost):
        stored = json.dumps(await deal_doc(svc, deal_id), default=str)
        for value in PERSONAL:
            assert value not in stored, (deal_id, value)
    after = await deal_doc(svc, won)
    # ... and what is not personal stays, so statistics stay true.
    assert after["_id"] == won and after["customer_id"] == customer_id
    assert after["status"] == "won" and after["contacts"] == 1
    assert after["summary_version"] == 1 and after["customer_reference"] == "PO-4711"
    assert after["summary"]["price"] == before["summary"]["price"]
    assert after["summary"]["lines"] == before["summary"]["lines"]
    assert after["summary"]["signature"]["envelope_id"] == "env-123"
    assert after["prospect"]["company_name"] == "Esimerkki Oy"
    assert after["prospect"]["business_id"] == business_id
    assert after["prospect"]["contact"] is None
    assert after["seller_card"] == before["seller_card"]  # an employee's card: kept
    assert after["opened_at"] == before["opened_at"] and after["closed_at"] == before["closed_at"]
    assert [r["company"] for r in after["referrals"]] == [None]  # nothing of the person
    assert [h["type"] for h in after["history"]] == [h["type"] for h in before["history"]]
    assert [h["event_id"] for h in after["history"]] == [h["event_id"] for h in before["history"]]
    assert after["erased_at"] == erasure.erased_at
    lost_deal = await deal_doc(svc, lost)
    assert lost_deal["status"] == "lost" and lost_deal["lost_at"] is not None
    # The other customer keeps its own data; only the erased person as a referral goes.
    other_deal = await deal_doc(svc, other)
    assert other_deal["prospect"]["contact"]["name"] == "Ville Virtanen"
    assert "erased_at" not in other_deal
    assert [r["name"] for r in other_deal["referrals"]] == ["[erased]", "Liisa"]
    assert CONTACT_EMAIL not in json.dumps(other_deal, default=str).lower()
    # The stale-deal timer reminds the seller, not the customer: untouched.
    assert await svc.runtime.db["_timers"].find_one({"_id": f"stale:{other}"}) == timer_before

    # The query API shows the same.
    for deal_id in (won, lost):
        r = await svc.client.get(f"/deals/{deal_id}", headers=svc.seller)
        assert r.status_code == 200
        for value in PERSONAL:
            assert value not in r.text, (deal_id, value)
        assert r.json()["deal"]["customer_id"] == customer_id
    listed = await svc.client.get(
        "/sellers/seller-1/deals?status=won&organisation_id=org-demo", headers=svc.seller
    )
    [listed_won] = [d for d in listed.json()["deals"] if d["deal_id"] == won]
    assert listed_won["prospect"]["contact"] is None
    assert listed_won["summary"]["price"]["total"]["amount"] == "4141.50"

    # Redelivery (the same envelope, and the erasure requested again later under a new
    # id: a deal erased before keeps its first erasure time) changes nothing.
    snapshot = {d: await deal_doc(svc, d) for d in (won, lost, other)}
    later = erasure.model_copy(update={"erased_at": erasure.erased_at + timedelta(days=1)})
    again = envelope(later, source="test")
    await publish_envelopes(bootstrap, [first, again])
    await eventually(lambda: handled(again.id), timeout=30.0)
    for deal_id, was in snapshot.items():
        assert await deal_doc(svc, deal_id) == was


async def test_gdpr_erasure_matches_any_spelling_of_the_business_id(infra, closing: ClosingFactory):
    """An erasure from another system (its own customer id, the VAT spelling of the
    business id, no email) still finds the company's deal."""
    svc = await closing(consume=True)
    lead = lead_accepted()
    written = lead.prospect.business_id
    assert written and "-" in written  # 1234567-8
    await publish_envelopes(infra.kafka_bootstrap_servers, [envelope(lead, source="test")])
    deal_id = f"deal-{lead.lead_id}"

    async def opened() -> bool:
        return await svc.runtime.db["deals"].count_documents({"_id": deal_id}) == 1

    await eventually(opened, timeout=30.0)
    erasure = CustomerErased(
        customer_id="crm-elsewhere-42",
        organisation_id=lead.organisation_id,
        business_id=f"FI{written.replace('-', '')}",
        requested_by="privacy-officer",
        erased_at=T0 + timedelta(days=1),
    )
    env = envelope(erasure, source="test")
    await publish_envelopes(infra.kafka_bootstrap_servers, [env])
    await eventually(lambda: was_handled(svc.runtime.db, env.id), timeout=30.0)
    after = await deal_doc(svc, deal_id)
    assert after["prospect"]["contact"] is None
    assert after["prospect"]["business_id"] == written  # company data stays as written
    assert after["erased_at"] == erasure.erased_at
