"""The confirmation as a PDF (D11): the same content as the email, the same bytes twice;
and which signed-order URLs an organisation lets the service fetch."""

from __future__ import annotations

import io
import re
from datetime import timedelta

from kauppa.confirmation.document import pdf_file_name, render_pdf
from kauppa.confirmation.domain.confirmation_content import (
    ConfirmationContent,
    from_deal_amended,
    from_deal_closed,
)
from kauppa.confirmation.domain.send_policy import OrganisationPolicy, SellerCopy
from kauppa.contracts import examples
from kauppa.contracts.events.deals import DealAmended
from pypdf import PdfReader

WHITESPACE = re.compile(r"\s+")


def pdf_text(data: bytes) -> str:
    """All pages' text, every run of whitespace (no-break spaces, wrapped lines) one space."""
    reader = PdfReader(io.BytesIO(data))
    return WHITESPACE.sub(" ", " ".join(page.extract_text() for page in reader.pages))


def content(locale: str = "fi-FI") -> ConfirmationContent:
    deal = examples.deal_closed(customer=examples.prospect(locale=locale))
    return from_deal_closed(deal)


def test_d11_the_pdf_holds_every_line_the_totals_the_schedule_the_terms_and_the_seller_card():
    c = content("fi-FI")
    text = pdf_text(render_pdf(c, "Soitan ensi viikolla."))
    assert "Tilausvahvistus" in text and f"{c.deal_id} (v1)" in text
    for line in c.summary.lines:
        assert f"{line.description} [{line.product_code}]" in text
    assert "lisätty kaupan yhteydessä" in text  # the upsell is marked
    for amount in ("2 400,00 €", "810,00 €", "3 210,00 €", "818,55 €", "4 028,55 €"):
        assert amount in text
    assert "ALV 25,5 %" in text and "Yhteensä 4 028,55 €" in text
    for m in c.summary.delivery.milestones:
        assert m.description in text
    assert "Maksuehdot 14 days net" in text and "PO-4711" in text
    assert "Soitan ensi viikolla." in text
    for part in ("Sanna Myyjä", "Account Manager", "Kauppa Demo Oy", "+358 50 765 4321"):
        assert part in text
    assert "sanna.myyja@kauppa.example" in text
    assert "Maija Meikäläinen" in text and "Esimerkki Oy" in text


def test_d11_the_same_version_renders_the_same_bytes_and_a_change_renders_other_bytes():
    c = content()
    first = render_pdf(c, "note")
    assert render_pdf(c, "note") == first
    assert render_pdf(content(), "note") != first  # another deal
    assert render_pdf(c, "another note") != first
    meta = PdfReader(io.BytesIO(first)).metadata
    assert meta is not None
    assert meta["/CreationDate"] == c.agreed_at.strftime("D:%Y%m%d%H%M%S+00'00'")


def test_d11_an_amended_version_says_which_version_it_replaces_in_english():
    deal = examples.deal_closed(customer=examples.prospect(locale="en-GB"))
    amended = DealAmended(
        deal_id=deal.deal_id,
        organisation_id=deal.organisation_id,
        customer_id=deal.customer_id,
        customer=deal.customer,
        seller=deal.seller,
        summary=deal.summary,
        summary_version=3,
        replaces_version=2,
        change_note="Training moved to April",
        amended_at=deal.closed_at + timedelta(days=2),
    )
    c = from_deal_amended(amended)
    text = pdf_text(render_pdf(c))
    assert "Order confirmation, version 3 (replaces version 2)" in text
    assert "This confirmation (version 3) replaces version 2." in text
    assert "What changed: Training moved to April" in text
    assert "Total €4,028.55" in text and f"{c.deal_id} (v3)" in text
    assert pdf_file_name(c) == f"order-confirmation-{c.deal_id}-v3.pdf"


def test_d11_swedish_letters_and_words_survive_in_the_pdf():
    c = content("sv-SE")
    text = pdf_text(render_pdf(c))
    assert "Orderbekräftelse" in text and "Betalningsvillkor" in text
    assert "Det ni beställt" in text and "Totalt 4 028,55 €" in text
    assert "Överenskommet" in text and "tillagt vid avslutet" in text
    assert pdf_file_name(c).startswith("orderbekraftelse-")


def test_d11_only_an_allowed_https_host_may_be_fetched():
    policy = OrganisationPolicy(signed_copy_hosts=("docs.example", "127.0.0.1:8443"))
    assert policy.may_fetch("https://docs.example/signed/1.pdf")
    assert policy.may_fetch("https://DOCS.example/signed/1.pdf")
    assert policy.may_fetch("https://127.0.0.1:8443/a.pdf")
    assert not policy.may_fetch("https://127.0.0.1:9443/a.pdf")  # another port
    assert not policy.may_fetch("http://docs.example/signed/1.pdf")  # not https
    assert policy.may_fetch("http://docs.example/signed/1.pdf", allow_http=True)  # local
    assert not policy.may_fetch("https://evil.example/docs.example.pdf")
    assert not policy.may_fetch("https://docs.example.evil.example/1.pdf")
    assert not policy.may_fetch("https://user@docs.example/1.pdf")
    assert not policy.may_fetch("https://docs.example:notaport/1.pdf")
    assert not policy.may_fetch(None)
    assert not OrganisationPolicy().may_fetch("https://docs.example/1.pdf")  # no allow-list


def test_d12_the_seller_copy_setting_reads_from_a_mapping_with_a_default():
    raw = {"policy": "immediate", "signed_copy_hosts": ["Docs.Example"]}
    policy = OrganisationPolicy.from_mapping(raw, default_seller_copy=SellerCopy.BCC)
    assert policy.seller_copy is SellerCopy.BCC and policy.signed_copy_hosts == ("docs.example",)
    again = OrganisationPolicy.from_mapping({**raw, "seller_copy": "none"})
    assert again.seller_copy is SellerCopy.NONE
    assert OrganisationPolicy.from_mapping(again.as_mapping()) == again
