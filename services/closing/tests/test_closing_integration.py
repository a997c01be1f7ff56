"""The closing service on a real broker and a real mongod."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from kauppa.contracts import DealClosed, envelope
from kauppa.contracts.topics import DEALS, REFERRALS
from kauppa.devkit.testing import TopicReader, publish_envelopes

from .conftest import ClosingFactory, close_body, lead_accepted

pytestmark = pytest.mark.integration


async def test_d5_lead_accepted_opens_one_deal_despite_duplicates(infra, closing: ClosingFactory):
    svc = await closing(consume=True)
    lead = lead_accepted()
    first = envelope(lead, source="handoff")
    again_later = envelope(lead, source="handoff")  # re-published: a new event id
    async with TopicReader(infra.kafka_bootstrap_servers, DEALS.name) as deals:
        await publish_envelopes(infra.kafka_bootstrap_servers, [first, first, again_later])
        [opened] = await deals.wait_for_events("DealOpened", lead_id=lead.lead_id)
        await asyncio.sleep(0.5)  # time for any (wrong) second deal to show
        assert len(deals.events("DealOpened", lead_id=lead.lead_id)) == 1
    assert opened.deal_id == f"deal-{lead.lead_id}"
    assert opened.seller_id == "seller-1" and opened.prospect == lead.prospect
    assert opened.source == lead.source and opened.stage == "qualified"
    assert opened.customer_id.startswith("cust-org-demo-bid-FI")
    assert await svc.runtime.db["deals"].count_documents({"lead_id": lead.lead_id}) == 1


async def test_d5_a_deal_opens_at_its_organisations_own_first_stage(infra, closing: ClosingFactory):
    """The deal is prepared with the default process's first stage before the
    transaction; an organisation whose process starts elsewhere gets its own stage, in
    the event, the stored deal and its history alike."""
    svc = await closing()
    org = "org-own-stages"
    process = {"stages": ["discovery", "offer", "closing"]}
    r = await svc.client.put(f"/organisations/{org}/sales-process", json=process, headers=svc.ops)
    assert r.status_code == 200, r.text
    async with TopicReader(infra.kafka_bootstrap_servers, DEALS.name) as deals:
        own, _ = await svc.accept(organisation_id=org)
        default, _ = await svc.accept()
        [opened_own] = await deals.wait_for_events("DealOpened", deal_id=own)
        [opened_default] = await deals.wait_for_events("DealOpened", deal_id=default)
    assert opened_own.stage == "discovery" and opened_default.stage == "qualified"
    stored = await svc.runtime.db["deals"].find_one({"_id": own})
    assert stored is not None and stored["stage"] == "discovery"
    assert [h["event"]["stage"] for h in stored["history"]] == ["discovery"]


@pytest.mark.parametrize(
    ("item", "override"),
    [
        ("content", {"lines": []}),
        ("delivery_schedule", {"delivery_schedule": None}),
        ("price", {"price": None}),
        ("payment_terms", {"payment_terms": None}),
        ("signature", {"signature": {"method": "accepted_offer", "offer_ref": "OF-1"}}),
    ],
)
async def test_d9_d10_close_missing_one_item_is_refused_naming_exactly_it(
    closing: ClosingFactory, item: str, override: dict[str, Any]
):
    svc = await closing()
    await svc.put_card()
    deal_id, _ = await svc.accept()
    r = await svc.post(f"/deals/{deal_id}/close", close_body(**override))
    assert r.status_code == 422, r.text
    assert r.json()["missing"] == [item]
    assert item in r.json()["problems"]
    deal = await svc.runtime.db["deals"].find_one({"_id": deal_id})
    assert deal is not None and deal["status"] == "open"
    assert await svc.runtime.db["_outbox"].count_documents({"records.type": "DealClosed"}) == 0


async def test_d12_close_for_seller_without_card_is_refused_naming_it(closing: ClosingFactory):
    svc = await closing()
    deal_id, _ = await svc.accept()
    r = await svc.post(f"/deals/{deal_id}/close", close_body())
    assert r.status_code == 422
    assert r.json()["missing"] == ["seller_card"]
    assert "seller-1" in r.json()["problems"]["seller_card"]


async def test_d9_complete_close_emits_one_deal_closed_even_when_retried(
    infra, closing: ClosingFactory
):
    svc = await closing()
    await svc.put_card()
    deal_id, _ = await svc.accept()
    body = close_body(referrals=[{"name": "Pekka", "company": "Naapuri Oy", "note": "CFO"}])
    async with TopicReader(infra.kafka_bootstrap_servers, DEALS.name, REFERRALS.name) as out:
        first = await svc.post(f"/deals/{deal_id}/close", body, key="close-1")
        retry = await svc.post(f"/deals/{deal_id}/close", body, key="close-1")
        assert first.status_code == 201, first.text
        assert retry.status_code == 201 and retry.json() == first.json()
        [closed] = await out.wait_for_events("DealClosed", deal_id=deal_id)
        await out.wait_for_events("ReferralReceived", deal_id=deal_id)
        await asyncio.sleep(0.5)
        assert len(out.events("DealClosed", deal_id=deal_id)) == 1
        assert len(out.events("ReferralReceived", deal_id=deal_id)) == 1
    assert isinstance(closed, DealClosed)
    price = closed.summary.price
    assert (
        price.net.amount
        == Decimal("3300.00")
        == sum(x.line_net.amount for x in closed.summary.lines)
    )
    assert price.vat.amount == Decimal("841.50")  # 3300.00 x 25.5 %
    assert price.total.amount == price.net.amount + price.vat.amount == Decimal("4141.50")
    assert price.net.currency == "EUR"
    assert closed.seller.name == "Sanna Myyjä" and closed.seller.email
    assert closed.summary.signature.envelope_id == "env-123"
    assert closed.summary.lines[1].upsell
    assert closed.customer_reference == "PO-4711"
    assert [r.name for r in closed.referrals] == ["Pekka"]
    assert closed.summary_version == 1
    # Once closed, the buying path is over: a second close is refused.
    again = await svc.post(f"/deals/{deal_id}/close", body, key="close-2")
    assert again.status_code == 409


async def test_d7_bundle_rule_changes_the_price_as_configured(infra, closing: ClosingFactory):
    svc = await closing()
    org = "org-bundle-test"
    await svc.put_card(organisation_id=org)  # seller ids are per organisation
    await svc.put_card(organisation_id="org-no-rules")
    process = {
        "stages": ["qualified", "offer", "closing"],
        "bundle_rules": [
            {
                "rule_id": "second-licence-50",
                "kind": "second_unit",
                "percent_off": "50",
                "products": ["CRM-PRO"],
            },
            {"rule_id": "training-bundle-10", "kind": "upsell_bundle", "percent_off": "10"},
        ],
    }
    r = await svc.client.put(f"/organisations/{org}/sales-process", json=process, headers=svc.ops)
    assert r.status_code == 200, r.text
    with_rules, _ = await svc.accept(organisation_id=org)
    without, _ = await svc.accept(organisation_id="org-no-rules")
    async with TopicReader(infra.kafka_bootstrap_servers, DEALS.name) as out:
        assert (await svc.post(f"/deals/{with_rules}/close", close_body())).status_code == 201
        assert (await svc.post(f"/deals/{without}/close", close_body())).status_code == 201
        [bundled] = await out.wait_for_events("DealClosed", deal_id=with_rules)
        [plain] = await out.wait_for_events("DealClosed", deal_id=without)
    assert plain.summary.price.net.amount == Decimal("3300.00")
    lines = [
        (x.product_code, x.quantity, x.discount_percent, x.bundle_rule, x.line_net.amount)
        for x in bundled.summary.lines
    ]
    assert lines == [
        ("CRM-PRO", Decimal(1), Decimal(0), None, Decimal("1200.00")),
        ("CRM-PRO", Decimal(1), Decimal(50), "second-licence-50", Decimal("600.00")),
        ("TRAIN-1D", Decimal(1), Decimal(10), "training-bundle-10", Decimal("810.00")),
    ]
    assert bundled.summary.price.net.amount == Decimal("2610.00")
    assert bundled.summary.price.total.amount == Decimal("3275.55")  # + 665.55 VAT


async def test_d5_stale_deal_reminder_after_n_days_without_contact_not_after_contact(
    infra, closing: ClosingFactory
):
    svc = await closing(stale_after_days=10)
    quiet, _ = await svc.accept()
    touched, _ = await svc.accept()
    async with TopicReader(infra.kafka_bootstrap_servers, DEALS.name) as out:
        svc.clock.advance(timedelta(days=9))
        assert await svc.runtime.timers.fire_due() == 0
        r = await svc.post(
            f"/deals/{touched}/contacts", {"channel": "phone", "summary": "Went through the offer"}
        )
        assert r.status_code == 201, r.text
        svc.clock.advance(timedelta(days=1, minutes=1))  # day 10 since opening
        assert await svc.runtime.timers.fire_due() == 1
        [reminder] = await out.wait_for_events("StaleDealReminder", deal_id=quiet)
        assert reminder.days_without_contact == 10 and reminder.seller_id == "seller-1"
        await out.wait_for_events("ContactLogged", deal_id=touched)
        await asyncio.sleep(0.3)
        assert out.events("StaleDealReminder", deal_id=touched) == []
        # The contact re-armed the reminder: ten days after the contact it fires.
        svc.clock.advance(timedelta(days=9))
        await svc.runtime.timers.fire_due()
        await out.wait_for_events("StaleDealReminder", deal_id=touched)


async def test_amendment_after_close_emits_version_2_with_the_full_summary(
    infra, closing: ClosingFactory
):
    svc = await closing()
    await svc.put_card()
    deal_id, _ = await svc.accept()
    assert (await svc.post(f"/deals/{deal_id}/close", close_body())).status_code == 201
    change = {
        "delivery_schedule": {"on": "2026-05-04"},
        "payment_terms": {"description": "30 days net", "net_days": 30},
        "change_note": "Customer asked for a later delivery",
    }
    async with TopicReader(infra.kafka_bootstrap_servers, DEALS.name) as out:
        r = await svc.post(f"/deals/{deal_id}/amendments", change, key="amend-1")
        assert r.status_code == 201, r.text
        [amended] = await out.wait_for_events("DealAmended", deal_id=deal_id)
    assert amended.summary_version == 2 and amended.replaces_version == 1
    assert amended.summary.payment_terms.net_days == 30
    assert [m.on.isoformat() for m in amended.summary.delivery.milestones] == ["2026-05-04"]
    assert len(amended.summary.lines) == 2  # unchanged parts travel too
    assert amended.summary.price.total.amount == Decimal("4141.50")
    assert amended.seller.seller_id == "seller-1"
    history = (await svc.client.get(f"/deals/{deal_id}", headers=svc.seller)).json()
    assert [h["type"] for h in history["history"]] == ["DealOpened", "DealClosed", "DealAmended"]
    assert history["deal"]["summary_version"] == 2
