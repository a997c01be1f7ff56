"""GDPR erasure on a real broker and mongod: CustomerErased scrubs the contact person's
data (company name, problem texts, notes, referrals, talking points) from the database and
the API, keeps ids, values, dates and counts, cancels every pending contact (no further
ContactDue), is not an audit violation, and a redelivery changes nothing."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from kauppa.contracts import envelope, examples
from kauppa.contracts.events.privacy import CustomerErased
from kauppa.contracts.topics import CONTACTS_DUE, CUSTOMERS
from kauppa.devkit.testing import TopicReader, eventually, publish_envelopes
from kauppa.followup.repository import CONTACTS, REPORTS
from kauppa.followup.repository import CUSTOMERS as CUSTOMER_RECORDS
from kauppa.servicekit.clock import ManualClock
from kauppa.servicekit.pipeline import was_handled
from kauppa.servicekit.unit_of_work import TIMERS

from .support import START, http, started, token

pytestmark = pytest.mark.integration

PERSONAL = [
    "Esimerkki Oy",
    "Maija broke the",
    "call Maija",
    "Pekka Puuhaaja",
    "pekka@puuhaaja.fi",
    "+358 50 765 4321",
    "maija@esimerkki.fi",
    "Meikäläinen",
]


def strip_volatile(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k != "_id"}


async def test_gdpr_customer_erased_scrubs_personal_data_and_stops_contacts(
    infra, settings_for, runtimes
):
    clock = ManualClock(START)
    rt = await started(settings_for, runtimes, clock)
    deal = examples.deal_closed(closed_at=START - timedelta(days=10))
    other = examples.deal_closed(closed_at=START - timedelta(days=10))
    cid = deal.customer_id
    bootstrap = infra.kafka_bootstrap_servers
    seller = token(rt, deal.seller.seller_id, "seller")
    other_seller = token(rt, other.seller.seller_id, "seller")
    ops = token(rt, "ops-1", "ops")
    async with TopicReader(bootstrap, CUSTOMERS.name, CONTACTS_DUE.name) as out, http(rt) as api:
        await publish_envelopes(
            bootstrap, [envelope(deal, source="closing"), envelope(other, source="closing")]
        )
        await out.wait_for_events("NextContactScheduled", customer_id=cid)
        await out.wait_for_events("NextContactScheduled", customer_id=other.customer_id)

        # A contact with a problem (its text goes into the next call's talking points),
        # notes and a referral; the next contact fires, so a contact holds talking points.
        r = await api.post(
            f"/customers/{cid}/contacts",
            json={
                "problems": ["Maija broke the scanner"],
                "notes": "call Maija on her mobile",
                "referrals": [
                    {
                        "name": "Pekka Puuhaaja",
                        "email": "pekka@puuhaaja.fi",
                        "phone": "+358 50 765 4321",
                    }
                ],
                "next_contact_on": "2026-03-12",
            },
            headers={**seller, "Idempotency-Key": "gdpr-1"},
        )
        assert r.status_code == 201, r.text
        first = r.json()["next_contact"]
        clock.set(datetime.fromisoformat(first["due_at"]) + timedelta(seconds=1))
        rt.timers.wake()
        [due] = await out.wait_for_events("ContactDue", contact_id=first["contact_id"])
        assert "Maija broke the scanner" in due.talking_points[0].text
        # Another customer's seller logged the erased person as a referral.
        r = await api.post(
            f"/customers/{other.customer_id}/contacts",
            json={
                "referrals": [
                    {"name": "Maija Meikäläinen", "email": "Maija@Esimerkki.FI"},
                    {"name": "Keijo Kolmas", "email": "keijo@kolmas.fi"},
                ]
            },
            headers={**other_seller, "Idempotency-Key": "gdpr-2"},
        )
        assert r.status_code == 201, r.text
        # A delivery: a feedback call is scheduled (a pending timer to cancel).
        delivery = examples.delivery_completed(
            deal_id=deal.deal_id, customer_id=cid, delivered_at=clock.now()
        )
        await publish_envelopes(bootstrap, [envelope(delivery, source="erp")])
        await out.wait_for_events("NextContactScheduled", customer_id=cid, kind="feedback_call")

        before = await rt.db[CUSTOMER_RECORDS].find_one({"_id": cid})
        pending = await rt.db[CONTACTS].find({"customer_id": cid, "state": "scheduled"}).to_list()
        assert len(pending) >= 2  # the repeat reminder / next contact and the feedback call

        erased = CustomerErased(
            customer_id=cid,
            organisation_id=deal.organisation_id,
            business_id=deal.customer.business_id,
            email="maija@esimerkki.fi",
            requested_by="dpo@example.com",
            erased_at=clock.now(),
        )
        first_delivery = envelope(erased, source="test")
        await publish_envelopes(bootstrap, [first_delivery])

        async def handled(event_id: str) -> bool:
            return await was_handled(rt.db, event_id)

        await eventually(lambda: handled(first_delivery.id))

        # Database: personal data gone, the rest kept.
        doc = await rt.db[CUSTOMER_RECORDS].find_one({"_id": cid})
        assert doc["erased_at"] is not None and doc["active"] is False
        assert doc["company_name"] is None and doc["next_contact"] is None
        assert doc["deals"] == before["deals"], "deal values, products and dates stay"
        assert doc["seller_id"] == before["seller_id"]
        assert doc["last_contact_at"] == before["last_contact_at"]
        assert doc["last_delivery"] == before["last_delivery"]
        assert [p["problem_id"] for p in doc["open_problems"]] == [
            p["problem_id"] for p in before["open_problems"]
        ]
        contacts = await rt.db[CONTACTS].find({"customer_id": cid}).to_list()
        assert {c["_id"] for c in pending} <= {c["_id"] for c in contacts}, "contacts stay"
        assert not [c for c in contacts if c["state"] == "scheduled"]
        assert {c["state"] for c in contacts if c["_id"] in {p["_id"] for p in pending}} == {
            "cancelled"
        }
        fired = next(c for c in contacts if c["_id"] == first["contact_id"])
        assert fired["state"] == "due" and [t["code"] for t in fired["talking_points"]] == [
            t.code for t in due.talking_points
        ]
        timers = (
            await rt.db[TIMERS]
            .find({"_id": {"$in": [f"contact:{c['_id']}" for c in pending]}, "state": "scheduled"})
            .to_list()
        )
        assert timers == [], "no pending contact timer for the erased customer"
        [report] = await rt.db[REPORTS].find({"customer_id": cid}).to_list()
        assert report["notes"] is None and len(report["problems"]) == 1
        assert len(report["referrals"]) == 1 and report["referrals"][0]["email"] is None
        assert report["seller_id"] == deal.seller.seller_id and report["contacted_at"]
        [other_report] = await rt.db[REPORTS].find({"customer_id": other.customer_id}).to_list()
        assert [x["email"] for x in other_report["referrals"]] == [None, "keijo@kolmas.fi"]
        stored = json.dumps([doc, contacts, report, other_report], default=str, ensure_ascii=False)
        for text in PERSONAL:  # addresses are kept as typed: compared in any case
            assert text.lower() not in stored.lower(), text

        # Query API: nothing personal either.
        record = await api.get(f"/customers/{cid}", headers=ops)
        history = await api.get(f"/customers/{cid}/history", headers=ops)
        assert record.status_code == 200 and history.status_code == 200
        assert len(history.json()["reports"]) == 1 and history.json()["contacts"]
        for text in PERSONAL:
            assert text.lower() not in (record.text + history.text).lower(), text
        segment = await api.post(
            "/segments/query", json={"organisation_id": deal.organisation_id}, headers=ops
        )
        assert cid not in segment.text

        # Not an audit violation, and nothing to repair.
        audit = await api.post("/audit?repair=true", headers=ops)
        assert audit.status_code == 200, audit.text
        assert audit.json()["total"] == 0 and audit.json()["repaired"] == 0

        # No further ContactDue, even a year on; a late deal does not revive the record.
        late = examples.deal_closed(
            customer_id=cid, organisation_id=deal.organisation_id, closed_at=clock.now()
        )
        late_env = envelope(late, source="closing")
        await publish_envelopes(bootstrap, [late_env])
        await eventually(lambda: handled(late_env.id))
        assert (await rt.db[CUSTOMER_RECORDS].find_one({"_id": cid}))["company_name"] is None
        clock.set(START + timedelta(days=400))
        rt.timers.wake()
        await out.wait_for_events("ContactDue", customer_id=other.customer_id)
        await asyncio.sleep(1)
        assert [e.contact_id for e in out.events("ContactDue", customer_id=cid)] == [
            first["contact_id"]
        ]
        refused = await api.post(
            f"/customers/{cid}/contacts",
            json={"notes": "Maija again"},
            headers={**seller, "Idempotency-Key": "gdpr-3"},
        )
        assert refused.status_code == 404

        # Redelivery (a new event id, so the handler runs again): nothing changes.
        snapshot = (
            strip_volatile(await rt.db[CUSTOMER_RECORDS].find_one({"_id": cid})),
            await rt.db[CONTACTS].find({"customer_id": cid}).sort("_id").to_list(),
            await rt.db[REPORTS].find({}).sort("_id").to_list(),
        )
        again = envelope(erased.model_copy(update={"erased_at": clock.now()}), source="test")
        await publish_envelopes(bootstrap, [again, first_delivery])
        await eventually(lambda: handled(again.id))
        assert snapshot == (
            strip_volatile(await rt.db[CUSTOMER_RECORDS].find_one({"_id": cid})),
            await rt.db[CONTACTS].find({"customer_id": cid}).sort("_id").to_list(),
            await rt.db[REPORTS].find({}).sort("_id").to_list(),
        )
        assert snapshot[0]["erased_at"].replace(tzinfo=UTC) == erased.erased_at
