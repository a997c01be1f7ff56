"""Sending once per (deal, version) over a real SMTP server, a real broker and mongod."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from kauppa.confirmation.deps import service_of
from kauppa.contracts import envelope, topics
from kauppa.contracts.events.deals import DealAmended
from kauppa.devkit.testing import TopicReader, publish_envelopes

from .conftest import deal_for, new_org

pytestmark = pytest.mark.integration

SPACES = re.compile(r"[\u00a0\u202f]")


def plain(text: str) -> str:
    return SPACES.sub(" ", text)


async def wait_state(runtime: Any, key: str, state: str, timeout: float = 15.0) -> dict:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        doc = await runtime.db["confirmations"].find_one({"_id": key})
        if doc is not None and doc["state"] == state:
            return doc
        if loop.time() > deadline:
            raise AssertionError(f"{key} never became {state}: {doc and doc['state']}")
        await asyncio.sleep(0.05)


async def test_d11_one_deal_closed_delivered_three_times_sends_exactly_one_email(
    start_service, smtp, kafka_settings
):
    org = new_org()
    rt = await start_service({org: {"policy": "immediate"}})
    deal = deal_for(org)
    env = envelope(deal, source="test")
    async with TopicReader(kafka_settings.bootstrap_servers, topics.CONFIRMATIONS.name) as reader:
        await publish_envelopes(kafka_settings.bootstrap_servers, [env, env])
        await publish_envelopes(kafka_settings.bootstrap_servers, [env])
        [sent] = await reader.wait_for_events("ConfirmationSent", deal_id=deal.deal_id)
        await asyncio.sleep(0.8)  # room for a wrong second email to show up
        assert len(reader.events("ConfirmationSent", deal_id=deal.deal_id)) == 1
        assert len(reader.events("ConfirmationScheduled", deal_id=deal.deal_id)) == 1
    [mail] = smtp.for_deal(deal.deal_id)
    assert mail.recipients == [deal.customer.contact.email]
    assert mail.message["Message-ID"] == f"<confirmation-{deal.deal_id}-v1@kauppa.example>"
    assert sent.message_id == mail.message["Message-ID"] and sent.version == 1
    assert mail.message["Reply-To"].addresses[0].addr_spec == deal.seller.email
    for body in (plain(mail.text), plain(mail.html)):
        for line in deal.summary.lines:  # every agreed item, upsell included
            assert line.description in body and line.product_code in body
        assert "2 400,00 €" in body and "810,00 €" in body
        assert "3 210,00 €" in body and "818,55 €" in body and "4 028,55 €" in body
        assert "14 days net" in body and "PO-4711" in body
        for m in deal.summary.delivery.milestones:
            assert m.description in body
        for part in (
            "Sanna Myyjä",
            "Account Manager",
            "+358 50 765 4321",
            "sanna.myyja@kauppa.example",
            "Kauppa Demo Oy",
        ):
            assert part in body
    doc = await rt.db["confirmations"].find_one({"_id": f"{deal.deal_id}:v1"})
    assert doc["state"] == "sent" and doc["attempts"] == 1


async def test_d11_finnish_swedish_and_english_emails(start_service, smtp, kafka_settings):
    org = new_org()
    await start_service({org: {"policy": "immediate"}})
    deals = {loc: deal_for(org, locale=loc) for loc in ("fi-FI", "sv-SE", "en-GB")}
    await publish_envelopes(
        kafka_settings.bootstrap_servers, [envelope(d, source="test") for d in deals.values()]
    )
    await smtp.wait_for(lambda: all(smtp.for_deal(d.deal_id) for d in deals.values()))
    fi, sv, en = (smtp.for_deal(deals[loc].deal_id)[0] for loc in ("fi-FI", "sv-SE", "en-GB"))
    assert str(fi.message["Subject"]).startswith("Tilausvahvistus")
    assert "Yhteensä: 4 028,55 €" in plain(fi.text) and "Maksuehdot" in fi.text
    assert str(sv.message["Subject"]).startswith("Orderbekräftelse")
    assert "Totalt: 4 028,55 €" in plain(sv.text) and "Betalningsvillkor" in sv.text
    assert str(en.message["Subject"]).startswith("Order confirmation")
    assert "Total: €4,028.55" in en.text and "Payment terms" in en.text
    assert 'lang="fi"' in fi.html and 'lang="sv"' in sv.html and 'lang="en"' in en.html


async def test_d11_smtp_451_twice_then_accepted_gives_one_email(
    start_service, smtp, kafka_settings
):
    org = new_org()
    rt = await start_service({org: {"policy": "immediate"}})
    deal = deal_for(org)
    smtp.script[deal.customer.contact.email] = ["451 4.3.0 try again later"] * 2
    async with TopicReader(kafka_settings.bootstrap_servers, topics.CONFIRMATIONS.name) as reader:
        await publish_envelopes(kafka_settings.bootstrap_servers, [envelope(deal, source="test")])
        await reader.wait_for_events("ConfirmationSent", deal_id=deal.deal_id)
        assert not reader.events("ConfirmationFailed", deal_id=deal.deal_id)
    assert len(smtp.for_deal(deal.deal_id)) == 1
    assert [r for r, _ in smtp.refused].count(deal.customer.contact.email) == 2
    doc = await rt.db["confirmations"].find_one({"_id": f"{deal.deal_id}:v1"})
    assert doc["state"] == "sent" and doc["attempts"] == 3
    retries = service_of(rt).sender.metrics.retries.labels("confirmation")._value.get()
    assert retries >= 2


async def test_d11_smtp_550_emits_the_failed_event(start_service, smtp, kafka_settings):
    org = new_org()
    rt = await start_service({org: {"policy": "immediate"}})
    deal = deal_for(org)
    smtp.script[deal.customer.contact.email] = ["550 5.1.1 mailbox unavailable"]
    async with TopicReader(kafka_settings.bootstrap_servers, topics.CONFIRMATIONS.name) as reader:
        await publish_envelopes(kafka_settings.bootstrap_servers, [envelope(deal, source="test")])
        [failed] = await reader.wait_for_events("ConfirmationFailed", deal_id=deal.deal_id)
    assert failed.permanent and failed.attempts == 1 and "550" in failed.reason
    assert not smtp.for_deal(deal.deal_id)
    doc = await rt.db["confirmations"].find_one({"_id": f"{deal.deal_id}:v1"})
    assert doc["state"] == "failed"
    assert service_of(rt).sender.metrics.failed.labels("confirmation", "true")._value.get() >= 1


async def test_d11_connection_refused_retries_until_exhausted(start_service, smtp, kafka_settings):
    org = new_org()
    from kauppa.devkit.embedded.servers import free_port

    rt = await start_service({org: {"policy": "immediate"}}, smtp_port=free_port(), max_attempts=3)
    deal = deal_for(org)
    async with TopicReader(kafka_settings.bootstrap_servers, topics.CONFIRMATIONS.name) as reader:
        await publish_envelopes(kafka_settings.bootstrap_servers, [envelope(deal, source="test")])
        [failed] = await reader.wait_for_events("ConfirmationFailed", deal_id=deal.deal_id)
    assert not failed.permanent and failed.attempts == 3
    assert "retries exhausted" in failed.reason
    assert service_of(rt).sender.metrics.failed.labels("confirmation", "false")._value.get() == 1


async def test_d11_crash_between_attempt_and_sent_resends_once_with_the_same_message_id(
    start_service, smtp, kafka_settings
):
    org = new_org()
    policies = {org: {"policy": "immediate"}}
    first = await start_service(policies, run_sender=False, sender_lease_seconds=1.0)
    deal = deal_for(org)
    key = f"{deal.deal_id}:v1"
    async with TopicReader(kafka_settings.bootstrap_servers, topics.CONFIRMATIONS.name) as reader:
        await publish_envelopes(kafka_settings.bootstrap_servers, [envelope(deal, source="test")])
        await wait_state(first, key, "due")
        # The process records the attempt and the SMTP server accepts the mail ...
        _token, docs = await service_of(first).sender.claim()
        assert [d["_id"] for d in docs] == [key]
        outcomes = await service_of(first).sender.deliver(docs)
        assert outcomes[0].accepted
        assert len(smtp.for_deal(deal.deal_id)) == 1
        # ... and the process dies before marking it sent.
        await first.stop()
        # A new process (same database and consumer group) takes over after the lease.
        second = await start_service(
            policies,
            database=first.settings.database,
            consumer_group=first.settings.consumer_group,
            sender_lease_seconds=1.0,
        )
        await reader.wait_for_events("ConfirmationSent", deal_id=deal.deal_id, timeout=20)
        await asyncio.sleep(0.5)
        assert len(reader.events("ConfirmationSent", deal_id=deal.deal_id)) == 1
    mails = smtp.for_deal(deal.deal_id)
    assert len(mails) == 2, "at most one extra delivery"
    assert {m.message["Message-ID"] for m in mails} == {
        f"<confirmation-{deal.deal_id}-v1@kauppa.example>"
    }
    assert mails[0].message["Date"] == mails[1].message["Date"]
    doc = await second.db["confirmations"].find_one({"_id": key})
    assert doc["state"] == "sent" and doc["interrupted_attempts"] == 1 and doc["attempts"] == 2
    assert service_of(second).sender.metrics.resumed.labels("confirmation")._value.get() == 1


async def test_d11_amendment_sends_version_two_marked_as_replacing_version_one(
    start_service, smtp, kafka_settings
):
    org = new_org()
    rt = await start_service({org: {"policy": "immediate"}})
    deal = deal_for(org, locale="en-GB")
    async with TopicReader(kafka_settings.bootstrap_servers, topics.CONFIRMATIONS.name) as reader:
        await publish_envelopes(kafka_settings.bootstrap_servers, [envelope(deal, source="test")])
        await reader.wait_for_events("ConfirmationSent", deal_id=deal.deal_id, version=1)
        amended = DealAmended(
            deal_id=deal.deal_id,
            organisation_id=org,
            customer_id=deal.customer_id,
            customer=deal.customer,
            customer_reference=deal.customer_reference,
            seller=deal.seller,
            summary=deal.summary,
            summary_version=2,
            replaces_version=1,
            change_note="Training moved to April",
            amended_at=deal.closed_at,
        )
        await publish_envelopes(
            kafka_settings.bootstrap_servers, [envelope(amended, source="test")]
        )
        [v2] = await reader.wait_for_events("ConfirmationSent", deal_id=deal.deal_id, version=2)
    assert v2.replaces_version == 1
    first, second = sorted(smtp.for_deal(deal.deal_id), key=lambda m: m.message["X-Kauppa-Version"])
    assert second.message["Message-ID"] == f"<confirmation-{deal.deal_id}-v2@kauppa.example>"
    assert second.message["Supersedes"] == first.message["Message-ID"]
    assert second.message["References"] == first.message["Message-ID"]
    assert "replaces version 1" in str(second.message["Subject"])
    assert "This confirmation (version 2) replaces version 1" in second.text
    assert "replaces version 1" in second.html and "Training moved to April" in second.text
    states = [
        (d["version"], d["state"])
        async for d in rt.db["confirmations"].find({"deal_id": deal.deal_id}).sort("version", 1)
    ]
    assert states == [(1, "sent"), (2, "sent")]
