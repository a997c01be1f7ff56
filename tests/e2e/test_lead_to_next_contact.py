"""One lead travels the whole way, across the four services running as separate processes:
LeadQualified -> LeadAssigned -> accept -> DealOpened -> close over HTTP -> DealClosed ->
the written confirmation arrives at a real SMTP server (items, totals, the seller's card)
-> DeliveryCompleted -> the feedback call falls due (ContactDue) -> the call is logged ->
NextContactScheduled: the customer has a next contact (D1, D3, D9-D15)."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from babel.numbers import format_decimal
from kauppa.contracts import DeliveredItem, envelope, examples
from kauppa.contracts import topics as T
from kauppa.devkit.testing import TopicReader
from kauppa.devkit.testing.kafka import publish_envelopes

from .conftest import KauppaSystem

pytestmark = [pytest.mark.e2e, pytest.mark.integration]


def _plain(text: str) -> str:
    """Babel writes no-break and narrow no-break spaces in Finnish numbers."""
    return re.sub(r"[\u00a0\u202f]", " ", text)


async def _call(
    client: httpx.AsyncClient, method: str, url: str, token: str, body: object = None
) -> httpx.Response:
    r = await client.request(
        method,
        url,
        json=body,
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex},
    )
    assert r.status_code in (200, 201, 202), f"{method} {url}: {r.status_code} {r.text}"
    return r


async def test_one_lead_from_qualified_to_next_contact(kauppa_system: KauppaSystem) -> None:
    system = kauppa_system
    tag = uuid.uuid4().hex[:8]
    org, seller_id = f"org-e2e-{tag}", f"seller-e2e-{tag}"
    ops = system.token("ops-e2e", "ops")
    seller = system.token(seller_id, "seller")
    reader = await TopicReader(
        system.bootstrap,
        T.LEADS_HANDOFF.name,
        T.DEALS.name,
        T.CONFIRMATIONS.name,
        T.CUSTOMERS.name,
        T.CONTACTS_DUE.name,
    ).start()
    try:
        async with httpx.AsyncClient(timeout=20) as http:
            # Ops: the seller on the roster (handoff) and the seller's card (closing).
            await _call(
                http,
                "PUT",
                f"{system.url('handoff')}/sellers/{seller_id}",
                ops,
                {"organisation_id": org, "name": "Sanna Myyjä", "languages": ["fi"], "capacity": 5},
            )
            card = examples.seller_card(
                seller_id=seller_id, email=f"sanna.{tag}@kauppa.example", phone="+358 50 765 4321"
            )
            await _call(
                http,
                "PUT",
                f"{system.url('closing')}/sellers/{seller_id}/card?organisation_id={org}",
                ops,
                card.model_dump(mode="json"),
            )
            await _call(
                http,
                "PUT",
                f"{system.url('confirmation')}/policies/{org}",
                ops,
                {"policy": "next_business_morning", "country": "FI"},
            )

            # Upstream: a qualified lead, stamped with the business clock.
            customer_email = f"maija.{tag}@esimerkki-{tag}.fi"
            prospect = examples.prospect(
                company_name=f"Esimerkki {tag} Oy",
                contact=examples.ContactPerson(
                    name="Maija Meikäläinen", email=customer_email, phone="+358 40 123 4567"
                ),
            )
            lead = examples.lead_qualified(
                organisation_id=org, prospect=prospect, qualified_at=system.clock.now()
            )
            await publish_envelopes(system.bootstrap, [envelope(lead, source="e2e-upstream")])

            assigned = await reader.wait_for_events(
                "LeadAssigned", lead_id=lead.lead_id, timeout=30
            )
            assert assigned[0].seller_id == seller_id

            # The seller accepts (D3): closing opens the deal.
            await _call(
                http,
                "POST",
                f"{system.url('handoff')}/leads/{lead.lead_id}/verdict",
                seller,
                {"verdict": "accept"},
            )
            await reader.wait_for_events("LeadAccepted", lead_id=lead.lead_id, timeout=30)
            opened = await reader.wait_for_events("DealOpened", lead_id=lead.lead_id, timeout=30)
            deal_id, customer_id = opened[0].deal_id, opened[0].customer_id

            # The buying path and a complete close (D5, D7-D10).
            closing = system.url("closing")
            await _call(
                http,
                "POST",
                f"{closing}/deals/{deal_id}/contacts",
                seller,
                {"channel": "in_person", "summary": "Demo at the customer's office"},
            )
            today = system.clock.now().date()
            close = {
                "lines": [
                    {
                        "product_code": "CRM-PRO",
                        "description": "CRM Pro, annual licence",
                        "quantity": "2",
                        "unit_price": {"amount": "1200.00", "currency": "EUR"},
                    },
                    {
                        "product_code": "TRAIN-1D",
                        "description": "Training day",
                        "quantity": "1",
                        "unit_price": {"amount": "900.00", "currency": "EUR"},
                        "discount_percent": "10",
                        "upsell": True,
                    },
                ],
                "delivery_schedule": {"on": (today + timedelta(days=14)).isoformat()},
                "price": {"vat_rate": "25.5", "currency": "EUR"},
                "payment_terms": {"description": "14 days net", "net_days": 14},
                "signature": {
                    "method": "e_signature",
                    "signed_by": "Maija Meikäläinen",
                    "envelope_id": f"env-{tag}",
                },
                "customer_reference": f"PO-{tag}",
            }
            await _call(http, "POST", f"{closing}/deals/{deal_id}/close", seller, close)
            closed = (await reader.wait_for_events("DealClosed", deal_id=deal_id, timeout=30))[0]
            price = closed.summary.price
            assert price.net.amount == Decimal("3210.00")
            assert price.total.amount == Decimal("4028.55")
            assert closed.seller.seller_id == seller_id

            # Confirmation: next business morning on the business clock (D11).
            scheduled = (
                await reader.wait_for_events("ConfirmationScheduled", deal_id=deal_id, timeout=30)
            )[0]
            assert scheduled.policy == "next_business_morning"
            assert scheduled.send_at is not None and scheduled.send_at > closed.closed_at
            assert scheduled.send_at.astimezone().weekday() < 5
            sent = (await reader.wait_for_events("ConfirmationSent", deal_id=deal_id, timeout=60))[
                0
            ]
            assert sent.sent_at >= scheduled.send_at

            # ... and the mail really arrived at the SMTP server, complete (D12).
            mails: list = []
            for _ in range(100):
                mails = system.smtp.received(lambda m: customer_email in m.to)
                if mails:
                    break
                await asyncio.sleep(0.1)
            assert mails, "no confirmation mail reached the SMTP server"
            mail = mails[0]
            assert mail.message["Message-ID"] == sent.message_id
            text = _plain(mail.text)
            for needle in (
                "CRM Pro, annual licence",
                "Training day",
                f"PO-{tag}",
                "Sanna Myyjä",
                card.email,
                "+358 50 765 4321",
                "14",
            ):
                assert needle in text, f"{needle!r} missing from the confirmation:\n{text}"
            for amount in ("3210.00", "4028.55"):
                assert _plain(format_decimal(Decimal(amount), "#,##0.00", locale="fi_FI")) in text
            assert card.email in str(mail.message["Reply-To"])

            # The ERP reports the delivery once followup knows the customer (and seller).
            await reader.wait_for_events(
                "NextContactScheduled", customer_id=customer_id, timeout=30
            )
            delivery = examples.delivery_completed(
                deal_id=deal_id,
                customer_id=customer_id,
                organisation_id=org,
                items=[
                    DeliveredItem(product_code="CRM-PRO", quantity=Decimal(2)),
                    DeliveredItem(product_code="TRAIN-1D", quantity=Decimal(1)),
                ],
                delivered_at=system.clock.now(),
            )
            await publish_envelopes(system.bootstrap, [envelope(delivery, source="e2e-erp")])
            feedback = (
                await reader.wait_for_events(
                    "NextContactScheduled",
                    customer_id=customer_id,
                    kind="feedback_call",
                    timeout=30,
                )
            )[0]
            assert feedback.seller_id == seller_id
            assert feedback.due_at > delivery.delivered_at

            # The feedback call falls due (D13): three business days later, in seconds.
            due = (
                await reader.wait_for_events(
                    "ContactDue", contact_id=feedback.contact_id, timeout=60
                )
            )[0]
            assert due.kind == "feedback_call" and due.seller_id == seller_id
            codes = {p.code for p in due.talking_points}
            assert {"check_delivery", "ask_referrals"} <= codes

            # The seller logs the call and decides the next contact (D15).
            next_on = (system.clock.now() + timedelta(days=120)).date()
            await _call(
                http,
                "POST",
                f"{system.url('followup')}/customers/{customer_id}/contacts",
                seller,
                {
                    "contact_id": feedback.contact_id,
                    "delivery_ok": True,
                    "upsell_interest": True,
                    "next_contact_on": next_on.isoformat(),
                    "notes": "All delivered, training went well",
                },
            )
            await reader.wait_for_events(
                "FeedbackCallCompleted", customer_id=customer_id, timeout=30
            )
            await reader.wait_for(
                lambda r: any(
                    e.kind == "scheduled" and not e.defaulted and e.due_at.date() >= next_on
                    for e in r.events("NextContactScheduled", customer_id=customer_id)
                ),
                timeout=30,
                what="the seller's next contact",
            )
            record = await _call(
                http, "GET", f"{system.url('followup')}/customers/{customer_id}", ops
            )
            assert record.json().get("next_contact"), record.json()
    except AssertionError:
        print(system.logs())
        raise
    finally:
        await reader.stop()
        system.check_alive()
