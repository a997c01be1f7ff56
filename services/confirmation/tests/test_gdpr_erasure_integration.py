"""GDPR erasure (CustomerErased) on a real broker, mongod and SMTP server: personal data
is gone from the database and the API, statistics stay, an unsent confirmation is never
sent, a redelivery and a late deal event change nothing."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from kauppa.confirmation.bootstrap import build_service_app
from kauppa.confirmation.deps import service_of
from kauppa.confirmation.domain.confirmation import timer_key
from kauppa.contracts import envelope, examples, topics
from kauppa.contracts.events.privacy import CustomerErased
from kauppa.devkit.testing import TopicReader, eventually, publish_envelopes
from kauppa.devkit.testing.http import asgi_client, bearer
from kauppa.servicekit.clock import ManualClock
from kauppa.servicekit.pipeline import was_handled

from .conftest import deal_for, new_org, schedule_confirmations

pytestmark = pytest.mark.integration
HELSINKI = ZoneInfo("Europe/Helsinki")
PERSONAL = ("Maija", "Meikäläinen", "@customer.example", "PO-4711", "Soitan", "Esimerkki")


def assert_no_personal(value: Any, company: str) -> None:
    text = str(value)
    for needle in (*PERSONAL, company):
        assert needle not in text, f"{needle!r} is still stored: {text[:300]}"


async def test_gdpr_erasure_anonymises_confirmations_and_stops_the_unsent_one(
    start_service, smtp, kafka_settings
):
    friday = datetime(2026, 3, 6, 15, 30, tzinfo=HELSINKI)
    clock = ManualClock(friday)
    org = new_org()
    rt = await start_service({org: {"policy": "next_business_morning"}}, clock=clock)
    customer_id = f"cust-{uuid.uuid4().hex[:10]}"
    sent_deal = deal_for(org, closed_at=friday, customer_id=customer_id)
    company = sent_deal.customer.company_name
    email = sent_deal.customer.contact.email
    pending_deal = examples.deal_closed(
        organisation_id=org, closed_at=friday, customer_id=customer_id, customer=sent_deal.customer
    )
    seller = bearer(rt.settings, "seller-1", "seller")
    app = build_service_app(rt, manage_runtime=False)
    sent_key, pending_key = f"{sent_deal.deal_id}:v1", f"{pending_deal.deal_id}:v1"
    pending_base = f"/confirmations/{pending_deal.deal_id}/versions/1"
    confirmations = rt.db["confirmations"]
    async with (
        asgi_client(app) as http,
        TopicReader(kafka_settings.bootstrap_servers, topics.CONFIRMATIONS.name) as reader,
    ):
        await schedule_confirmations(
            kafka_settings.bootstrap_servers, reader, sent_deal, pending_deal
        )
        # One confirmation approved and sent; the other scheduled for Monday, with a note.
        r = await http.post(
            f"/confirmations/{sent_deal.deal_id}/versions/1/approve", headers=seller
        )
        assert r.status_code == 200
        await reader.wait_for_events("ConfirmationSent", deal_id=sent_deal.deal_id)
        note = {"note": "Soitan Maijalle maanantaina."}
        noted = {**seller, "Idempotency-Key": "n1"}
        r = await http.post(f"{pending_base}/note", json=note, headers=noted)
        assert r.json()["recipient"] == email
        assert await rt.db["_timers"].find_one({"_id": timer_key(pending_deal.deal_id, 1)})
        before = {d["_id"]: d for d in await confirmations.find().to_list()}

        erased = CustomerErased(
            customer_id=customer_id,
            organisation_id=org,
            business_id=sent_deal.customer.business_id,
            email=email,
            requested_by="dpo@vendor.example",
            erased_at=datetime.now(UTC),
        )
        erasure = envelope(erased, source="test")
        await publish_envelopes(kafka_settings.bootstrap_servers, [erasure])

        async def both_erased() -> list[dict]:
            docs = await confirmations.find(
                {"_id": {"$in": [sent_key, pending_key]}, "erased_at": {"$exists": True}}
            ).to_list()
            return docs if len(docs) == 2 else []

        docs = {d["_id"]: d for d in await eventually(both_erased)}

        # The database: nothing personal left, statistics intact.
        for key, doc in docs.items():
            assert_no_personal({k: v for k, v in doc.items() if k != "message_id"}, company)
            assert doc["recipient"] is None and doc["note"] is None
            assert doc["content"]["customer"]["contact"] is None
            assert doc["content"]["summary"]["signature"]["signed_by"] is None
            old = before[key]
            for kept in ("deal_id", "version", "organisation_id", "seller_id", "message_id"):
                assert doc[kept] == old[kept]
            assert doc["content"]["customer_id"] == customer_id
            assert doc["content"]["summary"]["price"] == old["content"]["summary"]["price"]
            assert doc["content"]["summary"]["lines"] == old["content"]["summary"]["lines"]
            assert doc["content"]["agreed_at"] == old["content"]["agreed_at"]
            assert doc["content"]["customer"]["business_id"] == sent_deal.customer.business_id
        sent_doc, pending_doc = docs[sent_key], docs[pending_key]
        assert sent_doc["state"] == "sent" and sent_doc["sent_at"] == before[sent_key]["sent_at"]
        assert sent_doc["attempts"] == before[sent_key]["attempts"]
        assert pending_doc["state"] == "erased"
        assert pending_doc["erased_from_state"] == "scheduled"
        assert pending_doc["send_at"] == before[pending_key]["send_at"]
        assert await rt.db["_timers"].find_one({"_id": timer_key(pending_deal.deal_id, 1)}) is None
        assert await rt.db["erasures"].find_one({"_id": customer_id})

        # The API: the same, and the erased version cannot be approved any more.
        rows = (await http.get(f"/confirmations/{pending_deal.deal_id}", headers=seller)).json()
        assert rows[0]["state"] == "erased" and rows[0]["recipient"] is None
        assert_no_personal(rows, company)
        preview = (await http.get(f"{pending_base}/preview", headers=seller)).json()
        assert_no_personal({k: v for k, v in preview.items() if k != "message_id"}, company)
        assert "CRM Pro" in preview["text"]  # what was agreed is still there
        assert (await http.post(f"{pending_base}/approve", headers=seller)).status_code == 409
        # A retried click (Idempotency-Key replay) does not bring the note back either.
        replay = await http.post(f"{pending_base}/note", json=note, headers=noted)
        assert replay.json()["recipient"] is None and replay.json()["note"] is None

        # Monday morning comes: the erased confirmation is never sent.
        clock.set(datetime(2026, 3, 9, 8, 0, tzinfo=HELSINKI) + timedelta(minutes=5))
        await rt.timers.fire_due()
        service_of(rt).sender.wake()
        await asyncio.sleep(0.5)
        assert not smtp.for_deal(pending_deal.deal_id)
        assert len(smtp.for_deal(sent_deal.deal_id)) == 1

        # Redelivery (same id, and the same erasure under a new id) changes nothing;
        # a deal event arriving late is drafted already erased and announces nothing.
        after = {d["_id"]: d for d in await confirmations.find().to_list()}
        again = envelope(erased, source="test")
        late_deal = examples.deal_closed(
            organisation_id=org,
            closed_at=friday,
            customer_id=customer_id,
            customer=sent_deal.customer,
        )
        await publish_envelopes(
            kafka_settings.bootstrap_servers,
            [erasure, again, envelope(late_deal, source="test")],
        )

        async def handled() -> bool:
            return bool(
                await was_handled(rt.db, again.id)
                and await confirmations.find_one({"_id": f"{late_deal.deal_id}:v1"})
            )

        await eventually(handled)
        now = {d["_id"]: d for d in await confirmations.find().to_list()}
        late = now.pop(f"{late_deal.deal_id}:v1")
        assert now == after
        assert late["state"] == "erased" and late["recipient"] is None
        assert_no_personal({k: v for k, v in late.items() if k != "message_id"}, company)
        await asyncio.sleep(0.5)
        assert not reader.events("ConfirmationScheduled", deal_id=late_deal.deal_id)
        assert not smtp.for_deal(late_deal.deal_id)
