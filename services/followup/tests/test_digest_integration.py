"""The seller's daily digest (D15, D16) on a real broker, mongod and SMTP server: a
Friday digest, then Monday's (none on Saturday, Sunday or a holiday), its content the
seller's agenda from the API, and one digest per day with two replicas and a crash."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from kauppa.contracts import envelope, examples
from kauppa.contracts.events.common import LeadSource
from kauppa.contracts.events.leads import LeadAssigned
from kauppa.contracts.topics import CUSTOMERS
from kauppa.devkit.testing import TopicReader, eventually, publish_envelopes
from kauppa.devkit.testing.smtp import ScriptedSmtp, smtp_server
from kauppa.followup.bootstrap import build_runtime
from kauppa.followup.digest import DIGESTS, LEADS, SELLERS
from kauppa.followup.domain.digest import message_id
from kauppa.servicekit.clock import ManualClock

from .support import http, started, token

pytestmark = pytest.mark.integration

HELSINKI = ZoneInfo("Europe/Helsinki")
START = datetime(2027, 11, 25, 12, 0, tzinfo=UTC)  # Thursday, 14:00 in Helsinki


def local(day: int, month: int, hour: int) -> datetime:
    """A second past ``hour`` o'clock in Helsinki, 2027, as UTC."""
    return datetime(2027, month, day, hour, 0, 1, tzinfo=HELSINKI).astimezone(UTC)


@pytest.fixture
def smtp() -> Any:
    with smtp_server() as server:
        yield server


def new_seller() -> tuple[str, Any]:
    org = f"org-{uuid.uuid4().hex[:8]}"
    tag = uuid.uuid4().hex[:8]
    card = examples.seller_card(
        seller_id=f"s-{tag}", name="Sanna Myyjä", email=f"sanna-{tag}@sales.example"
    )
    return org, card


async def move_to(clock: ManualClock, rts: list[Any], when: datetime) -> None:
    clock.set(when)
    for rt in rts:
        rt.timers.wake()


async def digests_to(smtp: ScriptedSmtp, email: str, count: int, settle: float = 0.6) -> list:
    """Wait for ``count`` digests to ``email``, then a moment for a wrong extra one."""
    await smtp.wait_for(lambda: len(smtp.to(email)) >= count, timeout=15)
    await asyncio.sleep(settle)
    return smtp.to(email)


async def agenda_ids(api: Any, seller_id: str, headers: dict[str, str], end: datetime) -> set:
    """The agenda from the API: overdue, and upcoming before the day ends."""
    overdue = (await api.get(f"/sellers/{seller_id}/contacts?when=overdue", headers=headers)).json()
    upcoming = (
        await api.get(f"/sellers/{seller_id}/contacts?when=upcoming", headers=headers)
    ).json()
    today = [
        c
        for c in upcoming["contacts"]
        if datetime.fromisoformat(c["due_at"]).replace(tzinfo=UTC) < end
    ]
    return {c["id"] for c in overdue["contacts"] + today}


async def stored(rt: Any, org: str, seller_id: str, day: str) -> dict:
    doc = await rt.db[DIGESTS].find_one({"_id": f"digest:{org}:{seller_id}:{day}"})
    assert doc is not None, day
    return doc


async def test_friday_then_monday_none_on_weekend_or_holiday_content_is_the_agenda(
    infra, settings_for, runtimes, smtp
):
    clock = ManualClock(START)
    rt = await started(settings_for, runtimes, clock, smtp_port=smtp.port, digest_enabled=True)
    org, card = new_seller()
    bootstrap = infra.kafka_bootstrap_servers
    old = examples.deal_closed(
        organisation_id=org, seller=card, closed_at=START - timedelta(days=400)
    )
    a, b = (
        examples.deal_closed(organisation_id=org, seller=card, closed_at=START - timedelta(days=5))
        for _ in range(2)
    )
    lead = LeadAssigned(
        lead_id=f"lead-{uuid.uuid4().hex[:8]}",
        organisation_id=org,
        seller_id=card.seller_id,
        source=LeadSource(system="web"),
        prospect=examples.prospect(),
        criteria=examples.criteria(),
        product_interest=["CRM-PRO"],
        assigned_at=START,
        respond_by=START + timedelta(hours=4),
    )
    seller = token(rt, card.seller_id, "seller", organisation_id=org)
    async with TopicReader(bootstrap, CUSTOMERS.name) as out, http(rt) as api:
        await publish_envelopes(
            bootstrap,
            [envelope(e, source="test") for e in (old, a, b)] + [envelope(lead, source="handoff")],
        )
        for deal in (old, a, b):
            await out.wait_for_events("NextContactScheduled", customer_id=deal.customer_id)
        await eventually(lambda: rt.db[LEADS].find_one({"_id": lead.lead_id}))
        for deal, problems in ((a, ["Pump broken"]), (b, [])):
            r = await api.post(
                f"/customers/{deal.customer_id}/contacts",
                json={"problems": problems, "next_contact_on": "2027-11-26"},
                headers=seller,
            )
            assert r.status_code == 201, r.text
        armed = await rt.db[SELLERS].find_one({"_id": f"{org}:{card.seller_id}"})
        assert armed["next_digest_day"] == "2027-11-26" and armed["email"] == card.email

        # Friday 07:00 in Helsinki: the digest, in the organisation's language (fi).
        await move_to(clock, [rt], local(26, 11, 7))
        [friday] = await digests_to(smtp, card.email, 1)
        assert friday.header("Subject") == "Päiväsi pe 26.11.2027"
        assert friday.header("Message-ID") == message_id(
            org, card.seller_id, START.date() + timedelta(days=1), "kauppa.example"
        )
        text = friday.text
        for deal in (old, a, b):
            assert deal.customer.company_name in text
        assert "Pump broken" in text and lead.lead_id in text
        doc = await stored(rt, org, card.seller_id, "2027-11-26")
        assert doc["state"] == "sent" and doc["attempts"] == 1
        content = doc["content"]
        ids = set(content["contacts"]["ids"])
        assert ids == await agenda_ids(api, card.seller_id, seller, local(27, 11, 0)), "agenda"
        assert len(ids) == 3 and len(content["contacts"]["overdue"]) == 1  # old customer's
        assert content["yearly"]["ids"] == [old.customer_id]
        assert content["quiet"]["ids"] == [old.customer_id]
        assert content["problems"]["ids"] == [a.customer_id]
        assert content["leads"]["ids"] == [lead.lead_id]

        # Saturday and Sunday mornings: nothing (a's and b's contacts fall due meanwhile).
        for day in (27, 28):
            await move_to(clock, [rt], local(day, 11, 9))
            await asyncio.sleep(0.6)
        assert len(smtp.to(card.email)) == 1, "no digest at the weekend"

        # Monday: the contacts reminded on Friday are overdue now.
        r = await api.put(
            f"/sellers/{card.seller_id}/digest",
            json={"enabled": True, "locale": "sv"},
            headers=seller,
        )
        assert r.status_code == 200, r.text
        await move_to(clock, [rt], local(29, 11, 7))
        monday = (await digests_to(smtp, card.email, 2))[1]
        assert monday.header("Subject") == "Din dag mån 2027-11-29"
        content = (await stored(rt, org, card.seller_id, "2027-11-29"))["content"]
        ids = set(content["contacts"]["ids"])
        assert ids == await agenda_ids(api, card.seller_id, seller, local(30, 11, 0))
        assert set(content["contacts"]["overdue"]) == ids and len(ids) == 3

        # Down from Monday to Friday 3 December 08:00: Tuesday's is history, Friday's
        # goes late; Monday 6 December is Independence Day: none; Tuesday 7th: one.
        await move_to(clock, [rt], local(3, 12, 8))
        await digests_to(smtp, card.email, 3)
        assert (await stored(rt, org, card.seller_id, "2027-11-30"))["reason"] == "stale"
        await move_to(clock, [rt], local(6, 12, 9))
        await asyncio.sleep(0.6)
        assert len(smtp.to(card.email)) == 3, "no digest on a holiday"
        assert not await rt.db[DIGESTS].find_one({"day": "2027-12-06"})
        await move_to(clock, [rt], local(7, 12, 7))
        tuesday = (await digests_to(smtp, card.email, 4))[3]
        assert tuesday.header("Subject").startswith("Din dag tis 2027-12-07")

        # Opted out: Wednesday's is skipped, and says why.
        r = await api.put(
            f"/sellers/{card.seller_id}/digest", json={"enabled": False}, headers=seller
        )
        assert r.json()["enabled"] is False
        await move_to(clock, [rt], local(8, 12, 7))
        await eventually(
            lambda: rt.db[DIGESTS].find_one({"day": "2027-12-08", "seller_id": card.seller_id})
        )
        assert (await stored(rt, org, card.seller_id, "2027-12-08"))["reason"] == "seller_opted_out"
        assert len(smtp.to(card.email)) == 4


async def test_two_replicas_send_one_digest_and_a_crash_resends_the_same_email(
    infra, settings_for, runtimes, smtp
):
    clock = ManualClock(START)
    a = await started(settings_for, runtimes, clock, smtp_port=smtp.port, digest_enabled=True)
    b = build_runtime(a.settings.model_copy(), clock=clock)
    runtimes.append(b)
    await b.start()
    org, card = new_seller()
    deal = examples.deal_closed(
        organisation_id=org, seller=card, closed_at=START - timedelta(days=400)
    )
    await publish_envelopes(infra.kafka_bootstrap_servers, [envelope(deal, source="test")])
    await eventually(lambda: a.db[SELLERS].find_one({"_id": f"{org}:{card.seller_id}"}))

    await move_to(clock, [a, b], local(26, 11, 7))
    await digests_to(smtp, card.email, 1, settle=1.5)
    doc = await stored(a, org, card.seller_id, "2027-11-26")
    assert doc["state"] == "sent" and doc["attempts"] == 1

    # A replica claimed Monday's digest and died before recording the outcome.
    crashed_at = local(29, 11, 7) - timedelta(seconds=1)
    monday_id = message_id(org, card.seller_id, datetime(2027, 11, 29).date(), "kauppa.example")
    await a.db[DIGESTS].insert_one(
        {
            "_id": f"digest:{org}:{card.seller_id}:2027-11-29",
            "organisation_id": org,
            "seller_id": card.seller_id,
            "day": "2027-11-29",
            "state": "sending",
            "attempts": 1,
            "first_attempt_at": crashed_at,
            "claim_until": crashed_at,
            "claimed_by": "dead-replica",
            "message_id": monday_id,
        }
    )
    await move_to(clock, [a, b], local(29, 11, 7))
    monday = (await digests_to(smtp, card.email, 2, settle=1.5))[1]
    assert len(smtp.to(card.email)) == 2
    assert monday.header("Message-ID") == monday_id
    assert monday.header("Date") == format_datetime(crashed_at), "the same email, resent"
    doc = await stored(a, org, card.seller_id, "2027-11-29")
    assert doc["state"] == "sent" and doc["attempts"] == 2 and doc["interrupted_attempts"] == 1

    # The organisation moves its digest to 09:00 in English: Tuesday's moves with it.
    async with http(a) as api:
        ops = token(a, "ops-1", "ops", organisation_id=org)
        r = await api.put(
            f"/organisations/{org}/digest",
            json={"enabled": True, "hour": 9, "locale": "en", "quiet_days": 60},
            headers=ops,
        )
        assert r.status_code == 200, r.text
        assert r.json()["hour"] == 9 and r.json()["country"] == "FI"
        await move_to(clock, [a, b], local(30, 11, 8))
        await asyncio.sleep(0.6)
        assert len(smtp.to(card.email)) == 2, "not at the old hour"
        await move_to(clock, [a, b], local(30, 11, 9))
        tuesday = (await digests_to(smtp, card.email, 3))[2]
        assert tuesday.header("Subject") == "Your day Tue 30 Nov 2027"

        # Off: Wednesday's is skipped and no further digest is armed.
        r = await api.put(f"/organisations/{org}/digest", json={"enabled": False}, headers=ops)
        assert r.status_code == 200, r.text
        await move_to(clock, [a, b], local(1, 12, 9))
        wednesday = await eventually(
            lambda: a.db[DIGESTS].find_one({"organisation_id": org, "day": "2027-12-01"})
        )
        assert wednesday["reason"] == "organisation_off"
        await eventually(  # the firing's transaction commits after the skip is recorded
            lambda: a.db[SELLERS].find_one(
                {"_id": f"{org}:{card.seller_id}", "next_digest_day": None}
            )
        )
        assert len(smtp.to(card.email)) == 3
