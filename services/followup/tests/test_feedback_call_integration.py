"""D13 on a real broker and mongod: one feedback call per delivery, on the right business
day, whatever the transport or the ERP repeats."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from kauppa.contracts import envelope, examples
from kauppa.contracts.topics import CONTACTS_DUE, CUSTOMERS
from kauppa.devkit.testing import TopicReader, publish_envelopes
from kauppa.followup.repository import CONTACTS
from kauppa.servicekit.clock import ManualClock

from .support import START, started

pytestmark = pytest.mark.integration


async def test_d13_delivery_yields_exactly_one_feedback_call_on_the_third_business_day(
    infra, settings_for, runtimes
):
    clock = ManualClock(START)
    rt = await started(settings_for, runtimes, clock)
    deal = examples.deal_closed(closed_at=START - timedelta(days=20))
    delivery = examples.delivery_completed(
        deal_id=deal.deal_id,
        customer_id=deal.customer_id,
        delivered_at=datetime(2026, 3, 5, 11, 0, tzinfo=UTC),  # Thursday
    )
    same = envelope(delivery, source="erp")
    resent = envelope(delivery, source="erp")  # the ERP reports it again, new event id
    bootstrap = infra.kafka_bootstrap_servers
    async with TopicReader(bootstrap, CUSTOMERS.name, CONTACTS_DUE.name) as out:
        await publish_envelopes(bootstrap, [envelope(deal, source="closing")])
        await out.wait_for_events("NextContactScheduled", customer_id=deal.customer_id)
        await publish_envelopes(bootstrap, [same, same, resent])
        await out.wait_for_events(
            "NextContactScheduled", customer_id=deal.customer_id, kind="feedback_call"
        )
        await asyncio.sleep(0.5)
        assert (
            len(
                out.events(
                    "NextContactScheduled", kind="feedback_call", customer_id=deal.customer_id
                )
            )
            == 1
        )
        contacts = (
            await rt.db[CONTACTS]
            .find({"customer_id": deal.customer_id, "kind": "feedback_call"})
            .to_list()
        )
        assert len(contacts) == 1
        # Thu 5.3 + 3 business days = Tue 10.3, 09:00 Helsinki (07:00 UTC)
        assert contacts[0]["due_at"] == datetime(2026, 3, 10, 7, 0, tzinfo=UTC)

        clock.set(datetime(2026, 3, 10, 6, 59, tzinfo=UTC))
        assert await rt.timers.fire_due() == 0, "not before its business day"
        clock.set(datetime(2026, 3, 10, 7, 0, 30, tzinfo=UTC))
        rt.timers.wake()
        [due] = await out.wait_for_events("ContactDue", customer_id=deal.customer_id)
        assert due.kind == "feedback_call" and due.seller_id == deal.seller.seller_id
        assert due.lateness_seconds == pytest.approx(30, abs=1)
        assert [p.code for p in due.talking_points] == [
            "check_delivery",
            "ask_more_business",
            "ask_referrals",
        ]
        assert await rt.timers.fire_due() == 0
        await asyncio.sleep(0.5)
        assert len(out.events("ContactDue", customer_id=deal.customer_id)) == 1
