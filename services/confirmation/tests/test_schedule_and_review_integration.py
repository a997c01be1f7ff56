"""D11 timing (next business morning, holidays) with a moved clock, and D12.1 seller
review over HTTP, on a real broker, mongod and SMTP server."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from kauppa.confirmation.bootstrap import build_service_app
from kauppa.confirmation.deps import service_of
from kauppa.contracts import envelope, topics
from kauppa.devkit.testing import TopicReader, publish_envelopes
from kauppa.devkit.testing.http import asgi_client, bearer
from kauppa.servicekit.clock import ManualClock

from .conftest import deal_for, new_org
from .test_domain_document import pdf_text

pytestmark = pytest.mark.integration
HELSINKI = ZoneInfo("Europe/Helsinki")


async def sends_nothing_at(rt, clock, smtp, deal_id: str, when: datetime) -> None:
    clock.set(when)
    await rt.timers.fire_due()
    service_of(rt).sender.wake()
    await asyncio.sleep(0.3)
    assert not smtp.for_deal(deal_id), f"nothing may go at {when}"


async def test_d11_friday_afternoon_in_helsinki_is_sent_monday_at_eight(
    start_service, smtp, kafka_settings
):
    friday = datetime(2026, 3, 6, 15, 30, tzinfo=HELSINKI)
    clock = ManualClock(friday)
    org = new_org()
    rt = await start_service({org: {"policy": "next_business_morning"}}, clock=clock)
    deal = deal_for(org, closed_at=friday)
    async with TopicReader(kafka_settings.bootstrap_servers, topics.CONFIRMATIONS.name) as reader:
        await publish_envelopes(kafka_settings.bootstrap_servers, [envelope(deal, source="test")])
        [scheduled] = await reader.wait_for_events("ConfirmationScheduled", deal_id=deal.deal_id)
        monday_eight = datetime(2026, 3, 9, 8, 0, tzinfo=HELSINKI)
        assert scheduled.send_at == monday_eight
        assert scheduled.checklist and not scheduled.requires_approval
        await sends_nothing_at(rt, clock, smtp, deal.deal_id, friday + timedelta(hours=3))
        await sends_nothing_at(rt, clock, smtp, deal.deal_id, monday_eight - timedelta(minutes=1))
        clock.set(monday_eight)
        rt.timers.wake()
        [sent] = await reader.wait_for_events("ConfirmationSent", deal_id=deal.deal_id)
    assert sent.sent_at == monday_eight
    assert len(smtp.for_deal(deal.deal_id)) == 1


async def test_d11_public_holiday_is_skipped(start_service, smtp, kafka_settings):
    # Maundy Thursday 2026 afternoon: Good Friday and Easter Monday are Finnish holidays.
    thursday = datetime(2026, 4, 2, 16, 0, tzinfo=HELSINKI)
    fi = holidays.country_holidays("FI", years=2026)
    assert date(2026, 4, 3) in fi and date(2026, 4, 6) in fi
    clock = ManualClock(thursday)
    org = new_org()
    rt = await start_service({org: {"policy": "next_business_morning"}}, clock=clock)
    deal = deal_for(org, closed_at=thursday)
    async with TopicReader(kafka_settings.bootstrap_servers, topics.CONFIRMATIONS.name) as reader:
        await publish_envelopes(kafka_settings.bootstrap_servers, [envelope(deal, source="test")])
        [scheduled] = await reader.wait_for_events("ConfirmationScheduled", deal_id=deal.deal_id)
        tuesday_eight = datetime(2026, 4, 7, 8, 0, tzinfo=HELSINKI)
        assert scheduled.send_at == tuesday_eight
        for holiday in (
            datetime(2026, 4, 3, 8, 5, tzinfo=HELSINKI),
            datetime(2026, 4, 6, 8, 5, tzinfo=HELSINKI),
        ):
            await sends_nothing_at(rt, clock, smtp, deal.deal_id, holiday)
        clock.set(tuesday_eight)
        rt.timers.wake()
        [sent] = await reader.wait_for_events("ConfirmationSent", deal_id=deal.deal_id)
    assert sent.sent_at == tuesday_eight


async def test_d12_1_seller_reviews_notes_holds_and_approves_over_http(
    start_service, smtp, kafka_settings
):
    friday = datetime(2026, 3, 6, 15, 30, tzinfo=HELSINKI)
    clock = ManualClock(friday)
    org = new_org()
    rt = await start_service({org: {"policy": "next_business_morning"}}, clock=clock)
    deal = deal_for(org, closed_at=friday)
    seller = bearer(rt.settings, "seller-1", "seller")
    other = bearer(rt.settings, "seller-2", "seller")
    ops = bearer(rt.settings, "ops-1", "ops")
    app = build_service_app(rt, manage_runtime=False)
    base = f"/confirmations/{deal.deal_id}/versions/1"
    async with (
        asgi_client(app) as http,
        TopicReader(kafka_settings.bootstrap_servers, topics.CONFIRMATIONS.name) as reader,
    ):
        await publish_envelopes(kafka_settings.bootstrap_servers, [envelope(deal, source="test")])
        await reader.wait_for_events("ConfirmationScheduled", deal_id=deal.deal_id)

        preview = (await http.get(f"{base}/preview", headers=seller)).json()
        assert preview["state"] == "scheduled"
        assert any("CRM Pro" in line for line in preview["checklist"])
        assert "Sanna Myyjä" in preview["text"]
        assert (await http.get(f"{base}/preview", headers=other)).status_code == 404
        assert (await http.get(f"{base}/preview")).status_code == 401

        r = await http.post(f"{base}/note", json={"note": "Soitan maanantaina."}, headers=seller)
        assert r.status_code == 200 and r.json()["note"] == "Soitan maanantaina."
        pdf = await http.get(f"{base}/document.pdf", headers=seller)
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        assert (await http.get(f"{base}/document.pdf", headers=other)).status_code == 404
        r = await http.post(f"{base}/hold", headers={**seller, "Idempotency-Key": "h1"})
        assert r.json()["state"] == "held"
        # Held: Monday morning passes and nothing goes out.
        await sends_nothing_at(
            rt, clock, smtp, deal.deal_id, datetime(2026, 3, 9, 9, 0, tzinfo=HELSINKI)
        )
        r = await http.post(f"{base}/approve", headers={**seller, "Idempotency-Key": "a1"})
        assert r.json()["state"] == "due"
        again = await http.post(f"{base}/approve", headers={**seller, "Idempotency-Key": "a1"})
        assert again.status_code == 200  # a retried click changes nothing
        await reader.wait_for_events("ConfirmationSent", deal_id=deal.deal_id)
        late = await http.post(f"{base}/note", json={"note": "too late"}, headers=seller)
        assert late.status_code == 409

        [row] = (await http.get(f"/confirmations/{deal.deal_id}", headers=seller)).json()
        assert row["state"] == "sent" and row["approved_by"] == "seller-1"
        assert row["message_id"] == f"<confirmation-{deal.deal_id}-v1@kauppa.example>"

        r = await http.put(f"/policies/{org}", json={"policy": "seller_review"}, headers=ops)
        assert r.status_code == 200
        assert (
            await http.put(f"/policies/{org}", json={"policy": "immediate"}, headers=seller)
        ).status_code == 403
        assert (await http.get(f"/policies/{org}", headers=ops)).json()["policy"] == "seller_review"
        body = {"policy": "immediate", "seller_copy": "bcc", "signed_copy_hosts": ["Docs.Example"]}
        r = await http.put(f"/policies/{org}", json=body, headers=ops)
        assert r.status_code == 200
        policy = (await http.get(f"/policies/{org}", headers=ops)).json()
        assert policy["seller_copy"] == "bcc" and policy["signed_copy_hosts"] == ["docs.example"]
        bad = {"policy": "immediate", "signed_copy_hosts": ["https://docs.example/"]}
        assert (await http.put(f"/policies/{org}", json=bad, headers=ops)).status_code == 422
    [mail] = smtp.for_deal(deal.deal_id)
    assert "Soitan maanantaina." in mail.text and "Soitan maanantaina." in mail.html
    # The PDF the seller previewed (with the note) is, to the byte, the one sent.
    [(_, _, attached)] = [
        (p.get_content_type(), p.get_filename(), p.get_payload(decode=True))
        for p in mail.message.iter_attachments()
    ]
    assert attached == pdf.content and "Soitan maanantaina." in pdf_text(attached)


async def test_d12_1_seller_review_policy_waits_for_approval(start_service, smtp, kafka_settings):
    org = new_org()
    rt = await start_service({org: {"policy": "seller_review"}})
    deal = deal_for(org)
    async with TopicReader(kafka_settings.bootstrap_servers, topics.CONFIRMATIONS.name) as reader:
        await publish_envelopes(kafka_settings.bootstrap_servers, [envelope(deal, source="test")])
        [scheduled] = await reader.wait_for_events("ConfirmationScheduled", deal_id=deal.deal_id)
        assert scheduled.requires_approval and scheduled.send_at is None
        await asyncio.sleep(0.5)
        assert not smtp.for_deal(deal.deal_id)
        doc = await rt.db["confirmations"].find_one({"_id": f"{deal.deal_id}:v1"})
        assert doc["state"] == "awaiting_approval"
