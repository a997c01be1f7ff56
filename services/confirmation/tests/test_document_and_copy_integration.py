"""The confirmation as a document and the seller's copy (D11, D12), over a real broker,
mongod, SMTP server (aiosmtpd) and a local https server for the signed order."""

from __future__ import annotations

import asyncio
import email
from datetime import UTC, datetime
from email.message import Message
from email.policy import default as default_policy
from typing import Any

import pytest
from kauppa.confirmation.deps import service_of
from kauppa.confirmation.document import render_pdf
from kauppa.confirmation.domain.confirmation_content import ConfirmationContent
from kauppa.confirmation.sender import SELLER_COPY
from kauppa.contracts import envelope, examples
from kauppa.contracts.events.deals import SignatureEvidence, SignatureMethod
from kauppa.contracts.events.privacy import CustomerErased
from kauppa.devkit.testing import publish_envelopes

from .conftest import deal_for, new_org
from .https_server import FileServer
from .test_domain_document import pdf_text
from .test_sending_integration import wait_state

pytestmark = pytest.mark.integration

SIGNED = b"%PDF-1.4\n% the signed order form\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def attachments(message: Message) -> list[tuple[str, str, bytes]]:
    """(content type, file name, bytes) of each attachment, as a mail client sees them."""
    parsed = email.message_from_bytes(message.as_bytes(), policy=default_policy)
    out = []
    for part in parsed.iter_attachments():  # type: ignore[attr-defined]
        out.append((part.get_content_type(), part.get_filename(), part.get_payload(decode=True)))
    return out


async def stored(runtime: Any, key: str) -> dict[str, Any]:
    doc = await runtime.db["confirmations"].find_one({"_id": key})
    assert doc is not None
    return doc


async def test_d11_d12_the_mail_carries_the_pdf_and_the_seller_gets_a_separate_copy(
    start_service, smtp, kafka_settings
):
    org = new_org()
    rt = await start_service({org: {"policy": "immediate", "seller_copy": "separate"}})
    deal = deal_for(org, locale="fi-FI")
    key = f"{deal.deal_id}:v1"
    await publish_envelopes(kafka_settings.bootstrap_servers, [envelope(deal, source="test")])
    await smtp.wait_for(lambda: bool(smtp.for_deal(deal.deal_id) and smtp.copies_for(deal.deal_id)))
    [mail], [copy] = smtp.for_deal(deal.deal_id), smtp.copies_for(deal.deal_id)
    [(kind, name, pdf)] = attachments(mail.message)
    assert kind == "application/pdf" and name == f"tilausvahvistus-{deal.deal_id}-v1.pdf"
    text = pdf_text(pdf)
    for line in deal.summary.lines:
        assert f"{line.description} [{line.product_code}]" in text
    for amount in ("3 210,00 €", "818,55 €", "4 028,55 €"):
        assert amount in text
    for part in ("Sanna Myyjä", "Account Manager", "+358 50 765 4321", "Kauppa Demo Oy"):
        assert part in text
    # The attached file is the stored version rendered again: the same bytes.
    doc = await stored(rt, key)
    content = ConfirmationContent.model_validate(doc["content"])
    assert pdf == render_pdf(content, doc.get("note"))
    # The seller's copy: to the seller, its own Message-ID, the same document.
    assert copy.recipients == [deal.seller.email] and mail.recipients == [
        deal.customer.contact.email
    ]
    assert (
        copy.message["Message-ID"] == f"<confirmation-{deal.deal_id}-v1-seller-copy@kauppa.example>"
    )
    assert copy.message["References"] == mail.message["Message-ID"]
    assert str(copy.message["Subject"]).startswith("[Myyjän kopio] Tilausvahvistus")
    assert attachments(copy.message) == [(kind, name, pdf)]
    doc = await wait_state(rt, key, "sent")
    assert doc["copy_state"] == "sent" and doc["copy_attempts"] == 1


async def test_d12_bcc_copy_rides_on_the_customers_mail_unseen(start_service, smtp, kafka_settings):
    org = new_org()
    rt = await start_service({org: {"policy": "immediate", "seller_copy": "bcc"}})
    deal = deal_for(org, locale="en-GB")
    await publish_envelopes(kafka_settings.bootstrap_servers, [envelope(deal, source="test")])
    await smtp.wait_for(lambda: bool(smtp.for_deal(deal.deal_id)))
    [mail] = smtp.for_deal(deal.deal_id)
    assert mail.recipients == [deal.customer.contact.email, deal.seller.email]
    assert "Bcc" not in mail.message and deal.seller.email not in str(mail.message["To"])
    doc = await wait_state(rt, f"{deal.deal_id}:v1", "sent")
    assert doc["copy_state"] == "sent" and doc["seller_copy"] == "bcc"
    await asyncio.sleep(0.3)
    assert not smtp.copies_for(deal.deal_id)


async def test_d12_the_sellers_copy_is_sent_once_across_a_crash_between_send_and_record(
    start_service, smtp, kafka_settings
):
    """The customer's mail is handed to SMTP and the process dies before recording it:
    the customer may get the one extra delivery (same Message-ID), the seller's copy is
    sent exactly once, after the send is recorded."""
    org = new_org()
    policies = {org: {"policy": "immediate", "seller_copy": "separate"}}
    first = await start_service(policies, run_sender=False, sender_lease_seconds=1.0)
    deal = deal_for(org)
    key = f"{deal.deal_id}:v1"
    await publish_envelopes(kafka_settings.bootstrap_servers, [envelope(deal, source="test")])
    await wait_state(first, key, "due")
    _token, docs = await service_of(first).sender.claim()
    assert (await service_of(first).sender.deliver(docs))[0].accepted
    await first.stop()  # dies before recording the send
    second = await start_service(
        policies,
        database=first.settings.database,
        consumer_group=first.settings.consumer_group,
        sender_lease_seconds=1.0,
    )
    await smtp.wait_for(lambda: bool(smtp.copies_for(deal.deal_id)), timeout=20)
    await asyncio.sleep(0.5)  # room for a wrong second copy
    assert len(smtp.for_deal(deal.deal_id)) == 2  # the customer's known window
    assert len(smtp.copies_for(deal.deal_id)) == 1
    doc = await stored(second, key)
    assert doc["state"] == "sent" and doc["copy_state"] == "sent" and doc["copy_attempts"] == 1


async def test_d12_a_crash_in_the_copys_own_window_resends_it_with_the_same_message_id(
    start_service, smtp, kafka_settings
):
    org = new_org()
    policies = {org: {"policy": "immediate", "seller_copy": "separate"}}
    first = await start_service(policies, run_sender=False, sender_lease_seconds=1.0)
    deal = deal_for(org)
    key = f"{deal.deal_id}:v1"
    await publish_envelopes(kafka_settings.bootstrap_servers, [envelope(deal, source="test")])
    await wait_state(first, key, "due")
    token, docs = await service_of(first).sender.claim()
    await service_of(first).sender.record(token, docs, await service_of(first).sender.deliver(docs))
    _token, copies = await service_of(first).sender.claim(SELLER_COPY)
    assert [d["_id"] for d in copies] == [key]
    assert (await service_of(first).sender.deliver(copies, SELLER_COPY))[0].accepted
    await first.stop()  # dies before recording the copy
    second = await start_service(
        policies,
        database=first.settings.database,
        consumer_group=first.settings.consumer_group,
        sender_lease_seconds=1.0,
    )
    doc = await wait_state(second, key, "sent")
    for _ in range(100):
        doc = await stored(second, key)
        if doc["copy_state"] == "sent":
            break
        await asyncio.sleep(0.1)
    assert doc["copy_state"] == "sent" and doc["copy_interrupted_attempts"] == 1
    copies_sent = smtp.copies_for(deal.deal_id)
    assert len(copies_sent) == 2, "at most one extra copy"
    assert len({c.message["Message-ID"] for c in copies_sent}) == 1
    assert copies_sent[0].message["Date"] == copies_sent[1].message["Date"]
    assert len(smtp.for_deal(deal.deal_id)) == 1


async def test_d11_the_signed_order_is_attached_only_from_an_allowed_host_and_only_a_pdf(
    start_service, smtp, kafka_settings, tmp_path
):
    with FileServer(tmp_path) as files:
        files.files["/signed.pdf"] = ("application/pdf", SIGNED)
        files.files["/page.pdf"] = ("text/html", b"<html>login</html>")
        files.files["/fake.pdf"] = ("application/pdf", b"<html>not a pdf</html>")
        files.files["/big.pdf"] = ("application/pdf", SIGNED + b"x" * 5000)
        org = new_org()
        host = f"127.0.0.1:{files.port}"
        await start_service(
            {org: {"policy": "immediate", "seller_copy": "none", "signed_copy_hosts": [host]}},
            signed_copy_ca_file=str(files.cert),
            signed_copy_max_bytes=4096,
        )
        urls = {
            "ok": files.url("/signed.pdf"),
            "html": files.url("/page.pdf"),
            "fake": files.url("/fake.pdf"),
            "big": files.url("/big.pdf"),
            "not_allowed": "https://docs.elsewhere.example/signed.pdf",
        }
        deals = {}
        for what, url in urls.items():
            signature = SignatureEvidence(
                method=SignatureMethod.ONSITE_SIGNED_FORM,
                signed_by="Maija Meikäläinen",
                document_ref="FORM-1",
                document_url=url,
            )
            summary = examples.deal_summary().model_copy(update={"signature": signature})
            deals[what] = deal_for(org, locale="en-GB", summary=summary)
        await publish_envelopes(
            kafka_settings.bootstrap_servers,
            [envelope(d, source="test") for d in deals.values()],
        )
        await smtp.wait_for(lambda: all(smtp.for_deal(d.deal_id) for d in deals.values()))
        mail = {what: smtp.for_deal(d.deal_id)[0] for what, d in deals.items()}
        ok = attachments(mail["ok"].message)
        assert [(k, n) for k, n, _ in ok] == [
            ("application/pdf", f"order-confirmation-{deals['ok'].deal_id}-v1.pdf"),
            ("application/pdf", f"order-confirmation-{deals['ok'].deal_id}-v1-signed.pdf"),
        ]
        assert ok[1][2] == SIGNED
        for what in ("html", "fake", "big", "not_allowed"):
            assert len(attachments(mail[what].message)) == 1, what
            assert urls[what] in mail[what].html, what  # the link stays
        assert "/signed.pdf" in files.hits and "/page.pdf" in files.hits
        assert not smtp.copies_for(deals["ok"].deal_id)  # seller_copy "none"


async def test_d12_an_erasure_before_the_sellers_copy_went_out_stops_the_copy(
    start_service, smtp, kafka_settings
):
    org = new_org()
    policies = {org: {"policy": "immediate", "seller_copy": "separate"}}
    rt = await start_service(policies, run_sender=False)
    deal = deal_for(org)
    key = f"{deal.deal_id}:v1"
    await publish_envelopes(kafka_settings.bootstrap_servers, [envelope(deal, source="test")])
    await wait_state(rt, key, "due")
    token, docs = await service_of(rt).sender.claim()
    await service_of(rt).sender.record(token, docs, await service_of(rt).sender.deliver(docs))
    assert (await stored(rt, key))["copy_state"] == "due"
    erased = CustomerErased(
        customer_id=deal.customer_id,
        organisation_id=org,
        email=deal.customer.contact.email,
        requested_by="dpo@vendor.example",
        erased_at=datetime.now(UTC),
    )
    await publish_envelopes(kafka_settings.bootstrap_servers, [envelope(erased, source="test")])
    for _ in range(150):
        doc = await stored(rt, key)
        if "erased_at" in doc:
            break
        await asyncio.sleep(0.1)
    assert doc["state"] == "sent" and doc["copy_state"] == "erased"
    assert await service_of(rt).sender.send_due() == 0  # nothing left to send
    assert not smtp.copies_for(deal.deal_id) and len(smtp.for_deal(deal.deal_id)) == 1
