"""D14/D15/D16 on a real broker and mongod: talking points follow open problems, every
logged contact leaves a next contact, a missing date is defaulted and marked."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from kauppa.contracts import envelope, examples
from kauppa.contracts.events.customers import (
    CustomerAttributes,
    CustomerClassificationSubmitted,
    CustomerContactReported,
)
from kauppa.contracts.topics import CONTACTS_DUE, CUSTOMERS
from kauppa.devkit.testing import TopicReader, eventually, publish_envelopes
from kauppa.followup.domain.calendar import add_months
from kauppa.followup.repository import CUSTOMERS as CUSTOMER_RECORDS
from kauppa.servicekit.clock import ManualClock

from .support import START, http, started, token

pytestmark = pytest.mark.integration


def codes(due) -> list[str]:
    return [p.code for p in due.talking_points]


async def fire_next(rt, clock, out, next_contact: dict):
    """Move the clock just past the scheduled next contact and take its ContactDue."""
    clock.set(datetime.fromisoformat(next_contact["due_at"]) + timedelta(seconds=1))
    rt.timers.wake()
    [due] = await out.wait_for_events("ContactDue", contact_id=next_contact["contact_id"])
    return due


async def test_d14_open_problem_blocks_upsell_until_resolved(infra, settings_for, runtimes):
    clock = ManualClock(START)
    rt = await started(settings_for, runtimes, clock)
    deal = examples.deal_closed(closed_at=START - timedelta(days=10))
    bootstrap = infra.kafka_bootstrap_servers
    seller = token(rt, deal.seller.seller_id, "seller")
    async with TopicReader(bootstrap, CUSTOMERS.name, CONTACTS_DUE.name) as out, http(rt) as api:
        await publish_envelopes(bootstrap, [envelope(deal, source="closing")])
        await out.wait_for_events("NextContactScheduled", customer_id=deal.customer_id)

        r = await api.post(
            f"/customers/{deal.customer_id}/contacts",
            json={"problems": ["Two licences missing"], "next_contact_on": "2026-03-12"},
            headers={**seller, "Idempotency-Key": "k-1"},
        )
        assert r.status_code == 201, r.text
        logged = r.json()
        [problem_id] = logged["problems_opened"]
        await out.wait_for_events("ProblemReported", problem_id=problem_id)
        due = await fire_next(rt, clock, out, logged["next_contact"])
        assert codes(due) == ["fix_problems", "ask_referrals"], "no upsell while a problem is open"
        assert "Two licences missing" in due.talking_points[0].text

        r = await api.post(
            f"/customers/{deal.customer_id}/contacts",
            json={
                "contact_id": due.contact_id,
                "resolved_problem_ids": [problem_id],
                "next_contact_on": "2026-03-20",
            },
            headers={**seller, "Idempotency-Key": "k-2"},
        )
        assert r.status_code == 201, r.text
        assert r.json()["problems_resolved"] == [problem_id]
        await out.wait_for_events("ProblemResolved", problem_id=problem_id)
        due = await fire_next(rt, clock, out, r.json()["next_contact"])
        assert codes(due) == ["ask_more_business", "ask_referrals"], "upsell once fixed"


async def test_d14_long_relationship_gets_upsell_even_with_open_problem(
    infra, settings_for, runtimes
):
    """Both inputs by event: the CRM's 'customer since' and a seller tool's report."""
    clock = ManualClock(START)
    rt = await started(settings_for, runtimes, clock, long_relationship_years=5)
    deal = examples.deal_closed(closed_at=START - timedelta(days=10))
    crm = CustomerClassificationSubmitted(
        customer_id=deal.customer_id,
        organisation_id=deal.organisation_id,
        attributes=CustomerAttributes(industry="retail", customer_since=date(2017, 5, 1)),
        submitted_at=START,
    )
    report = CustomerContactReported(
        report_id=f"rep-{deal.deal_id}",
        customer_id=deal.customer_id,
        seller_id=deal.seller.seller_id,
        contacted_at=START,
        problems=["Invoice was wrong"],
        next_contact_on=date(2026, 3, 12),
    )
    bootstrap = infra.kafka_bootstrap_servers
    async with TopicReader(bootstrap, CUSTOMERS.name, CONTACTS_DUE.name) as out:
        await publish_envelopes(bootstrap, [envelope(deal, source="closing")])
        await out.wait_for_events("NextContactScheduled", customer_id=deal.customer_id)
        await publish_envelopes(bootstrap, [envelope(crm, source="crm")])
        await _until_attribute(rt, deal.customer_id)
        await publish_envelopes(bootstrap, [envelope(report, source="seller-tool")])
        await out.wait_for_events("ProblemReported", customer_id=deal.customer_id)
        [scheduled] = [
            e
            for e in out.events("NextContactScheduled", customer_id=deal.customer_id)
            if e.due_at.date() == date(2026, 3, 12)
        ]
        clock.set(scheduled.due_at + timedelta(seconds=1))
        rt.timers.wake()
        [due] = await out.wait_for_events("ContactDue", contact_id=scheduled.contact_id)
        assert codes(due) == ["fix_problems", "ask_more_business", "ask_referrals"]
        assert "along with the fix" in due.talking_points[1].text


async def _until_attribute(rt, customer_id: str) -> None:
    async def classified() -> bool:
        doc = await rt.db[CUSTOMER_RECORDS].find_one({"_id": customer_id})
        return bool(doc and doc["attributes"].get("customer_since"))

    await eventually(classified)


async def test_d15_contact_without_next_date_gets_marked_default_within_12_months(
    infra, settings_for, runtimes
):
    clock = ManualClock(START)
    rt = await started(settings_for, runtimes, clock, default_next_contact_days=500)
    deal = examples.deal_closed(closed_at=START - timedelta(days=10))
    bootstrap = infra.kafka_bootstrap_servers
    seller = token(rt, deal.seller.seller_id, "seller")
    async with TopicReader(bootstrap, CUSTOMERS.name) as out, http(rt) as api:
        await publish_envelopes(bootstrap, [envelope(deal, source="closing")])
        await out.wait_for_events("NextContactScheduled", customer_id=deal.customer_id)
        body = {"delivery_ok": True, "upsell_interest": True}
        headers = {**seller, "Idempotency-Key": "no-date"}
        r = await api.post(f"/customers/{deal.customer_id}/contacts", json=body, headers=headers)
        again = await api.post(
            f"/customers/{deal.customer_id}/contacts", json=body, headers=headers
        )
        assert r.status_code == 201 and again.json() == r.json(), "the repeat changes nothing"
        nxt = r.json()["next_contact"]
        assert nxt["defaulted"] is True
        due = datetime.fromisoformat(nxt["due_at"])
        assert START < due <= add_months(START, 12), "a 500-day default is capped at 12 months"
        [event] = await out.wait_for_events("NextContactScheduled", contact_id=nxt["contact_id"])
        assert event.defaulted is True
        await out.wait_for_events("CustomerContactLogged", customer_id=deal.customer_id)
        doc = await rt.db[CUSTOMER_RECORDS].find_one({"_id": deal.customer_id})
        assert doc["next_contact"]["defaulted"] is True
        assert doc["next_contact"]["contact_id"] == nxt["contact_id"]
        assert len(out.events("CustomerContactLogged", customer_id=deal.customer_id)) == 1

        ops = token(rt, "ops-1", "ops")
        audit = await api.post("/audit", headers=ops)
        assert audit.status_code == 200 and audit.json()["violations"]["missing"] == 0
        assert (
            await api.get(
                f"/sellers/{deal.seller.seller_id}/contacts",
                params={"organisation_id": deal.organisation_id},
                headers=seller,
            )
        ).status_code == 200
        history = await api.get(f"/customers/{deal.customer_id}/history", headers=seller)
        assert len(history.json()["reports"]) == 1


async def test_a_contact_report_the_event_would_refuse_is_a_422_not_a_500(settings_for, runtimes):
    """The body and path declare the bounds of ``CustomerContactReported``: what it would
    refuse is refused at the edge (it used to fail building the event: a 500)."""
    rt = await started(settings_for, runtimes, ManualClock(START))
    seller = token(rt, "seller-1", "seller")
    refused = [
        ("cust-1", {"contact_id": ""}),
        ("cust-1", {"contact_id": "a b"}),
        ("cust-1", {"resolved_problem_ids": [""]}),
        ("cust-1", {"contacted_at": "2026-03-02T09:00:00"}),  # no offset
        ("cust-1", {"resolved_problem_ids": ["x"] * 101}),
        ("cust 1", {}),
    ]
    async with http(rt) as api:
        for customer_id, body in refused:
            r = await api.post(f"/customers/{customer_id}/contacts", json=body, headers=seller)
            assert r.status_code == 422, (customer_id, body, r.status_code, r.text)
