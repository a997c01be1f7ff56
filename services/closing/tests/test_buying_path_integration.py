"""D5 over HTTP: contacts, offers, stages, loss, referrals and the queries."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from kauppa.contracts.topics import DEALS, REFERRALS
from kauppa.devkit.testing import TopicReader
from kauppa.devkit.testing.http import bearer

from .conftest import ClosingFactory, close_body

pytestmark = pytest.mark.integration

LINES = close_body()["lines"]


async def test_d5_buying_path_commands_emit_events_and_build_history(
    infra, closing: ClosingFactory
):
    svc = await closing()
    deal_id, _ = await svc.accept()
    async with TopicReader(infra.kafka_bootstrap_servers, DEALS.name, REFERRALS.name) as out:
        for channel in ("in_person", "remote", "email"):
            r = await svc.post(
                f"/deals/{deal_id}/contacts", {"channel": channel, "summary": "talk"}
            )
            assert r.status_code == 201, r.text
        offer = {
            "offer_ref": "OF-1",
            "lines": LINES,
            "vat_rate": "25.5",
            "valid_until": "2026-04-01",
        }
        r = await svc.post(f"/deals/{deal_id}/offers", offer, key="offer-1")
        assert r.status_code == 201, r.text
        assert r.json()["price"]["total"]["amount"] == "4141.50"
        assert (await svc.post(f"/deals/{deal_id}/offers", offer, key="offer-2")).status_code == 409
        bad = await svc.post(f"/deals/{deal_id}/stage", {"to_stage": "nowhere"})
        assert bad.status_code == 422 and "qualified" in bad.json()["stages"]
        r = await svc.post(f"/deals/{deal_id}/stage", {"to_stage": "offer"})
        assert r.status_code == 201
        r = await svc.post(
            f"/deals/{deal_id}/referrals", {"name": "Pekka", "company": "Naapuri Oy"}
        )
        assert r.status_code == 201
        [sent] = await out.wait_for_events("OfferSent", deal_id=deal_id)
        [moved] = await out.wait_for_events("DealStageChanged", deal_id=deal_id)
        [referral] = await out.wait_for_events("ReferralReceived", deal_id=deal_id)
        await out.wait_for_events("ContactLogged", count=3, deal_id=deal_id)
    assert sent.price.net.amount == Decimal("3300.00") and sent.offer_ref == "OF-1"
    assert (moved.from_stage, moved.to_stage) == ("qualified", "offer")
    assert referral.referral.name == "Pekka" and referral.referred_by_customer_id

    open_deals = await svc.client.get(
        "/sellers/seller-1/deals?organisation_id=org-demo", headers=svc.seller
    )
    assert deal_id in [d["deal_id"] for d in open_deals.json()["deals"]]
    other = bearer(svc.runtime.settings, "seller-2", "seller")
    assert (await svc.client.get("/sellers/seller-1/deals", headers=other)).status_code == 403
    assert (await svc.client.get(f"/deals/{deal_id}", headers=other)).status_code == 403

    # Tenant scope: ops of another organisation do not find the deal, nor act on it, nor
    # read or set that organisation's sales process; ops of its own organisation do.
    def bound(subject: str, org: str, *roles: str) -> dict[str, str]:
        token = bearer(svc.runtime.settings, subject, *roles, organisation_id=org)
        return {**token, "Idempotency-Key": uuid.uuid4().hex}

    foreign, own = bound("ops-9", "org-other", "ops"), bound("ops-2", "org-demo", "ops")
    assert (await svc.client.get(f"/deals/{deal_id}", headers=foreign)).status_code == 404
    assert (await svc.client.get(f"/deals/{deal_id}", headers=own)).status_code == 200
    r = await svc.client.post(
        f"/deals/{deal_id}/contacts",
        json={"channel": "phone", "summary": "x"},
        headers=bound("seller-1", "org-other", "seller"),
    )
    assert r.status_code == 404
    process = "/organisations/org-demo/sales-process"
    assert (await svc.client.get(process, headers=foreign)).status_code == 403
    assert (await svc.client.get(process, headers=own)).status_code == 200
    current = (await svc.client.get(process, headers=own)).json()
    assert (await svc.client.put(process, json=current, headers=foreign)).status_code == 403

    history = (await svc.client.get(f"/deals/{deal_id}", headers=svc.seller)).json()
    assert [h["type"] for h in history["history"]] == [
        "DealOpened",
        "ContactLogged",
        "ContactLogged",
        "ContactLogged",
        "OfferSent",
        "DealStageChanged",
        "ReferralReceived",
    ]
    assert history["deal"]["contacts"] == 3 and history["deal"]["stage"] == "offer"


async def test_d10_close_on_an_accepted_offer_takes_the_offer_lines(infra, closing: ClosingFactory):
    svc = await closing()
    await svc.put_card()
    deal_id, _ = await svc.accept()
    offer = {"offer_ref": "OF-7", "lines": LINES[:1], "vat_rate": "24", "valid_until": "2026-04-01"}
    assert (await svc.post(f"/deals/{deal_id}/offers", offer)).status_code == 201
    body = close_body(
        lines=[],
        price=None,
        signature={
            "method": "accepted_offer",
            "offer_ref": "OF-7",
            "accepted_at": "2026-03-02T08:00:00Z",
        },
    )
    async with TopicReader(infra.kafka_bootstrap_servers, DEALS.name) as out:
        r = await svc.post(f"/deals/{deal_id}/close", body)
        assert r.status_code == 201, r.text
        [closed] = await out.wait_for_events("DealClosed", deal_id=deal_id)
    assert closed.summary.price.net.amount == Decimal("2400.00")
    assert closed.summary.price.vat.amount == Decimal("576.00")
    assert closed.summary.signature.offer_ref == "OF-7"


async def test_d5_lost_deal_is_closed_to_the_buying_path_and_to_reminders(
    infra, closing: ClosingFactory
):
    svc = await closing(stale_after_days=5)
    deal_id, _ = await svc.accept()
    async with TopicReader(infra.kafka_bootstrap_servers, DEALS.name) as out:
        r = await svc.post(f"/deals/{deal_id}/lose", {"reason": "chose a competitor"})
        assert r.status_code == 201
        [lost] = await out.wait_for_events("DealLost", deal_id=deal_id)
    assert lost.reason == "chose a competitor" and lost.source is not None
    assert (
        await svc.post(f"/deals/{deal_id}/contacts", {"channel": "phone", "summary": "x"})
    ).status_code == 409
    svc.clock.advance(timedelta(days=30))
    assert await svc.runtime.timers.fire_due() == 0
