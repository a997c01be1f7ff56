"""Issue #18, validated at the edge: CR/LF never reaches an email header, a
``javascript:`` link never reaches the email, an organisation id never leaves the
template folder."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes
from pathlib import Path

import pytest
from kauppa.confirmation.document import pdf_file_name
from kauppa.confirmation.domain.confirmation_content import from_deal_closed, message_id
from kauppa.confirmation.mailer import Attachment, build_email
from kauppa.confirmation.rendering import ConfirmationRenderer
from kauppa.contracts import examples


def _signed_with(url: str) -> object:
    summary = examples.deal_summary()
    sig = summary.signature.model_copy(update={"document_url": url})  # type: ignore[union-attr]
    return examples.deal_closed(summary=summary.model_copy(update={"signature": sig}))


def test_crlf_in_a_seller_card_never_makes_a_header():
    card = examples.seller_card(name="Anna\r\nBcc: victim@evil.example", email="a@x.example")
    # The contract refuses such a deal id on the wire; the mailer must hold even for one
    # that got past it (a document stored before the bound, say): built unvalidated.
    with pytest.raises(ValueError):
        examples.deal_closed(deal_id="deal-1\r\nX-Evil: 1")
    deal = examples.deal_closed(seller=card).model_copy(update={"deal_id": "deal-1\r\nX-Evil: 1"})
    content = from_deal_closed(deal)
    rendered = ConfirmationRenderer().render(content)
    mail = build_email(
        content,
        rendered,
        from_address="office@kauppa.example",
        domain="kauppa.example",
        dated=datetime(2026, 3, 6, tzinfo=UTC),
        attachments=[Attachment(pdf_file_name(content), b"%PDF-1.4")],
        bcc=["seller@kauppa.example"],
    )
    parsed = message_from_bytes(mail.data)
    assert parsed["Bcc"] is None and parsed["X-Evil"] is None
    [attachment] = [p for p in parsed.walk() if p.get_filename()]
    assert attachment.get_filename() == "tilausvahvistus-deal-1__X-Evil__1-v1.pdf"
    assert mail.recipients == ["maija@esimerkki.fi", "seller@kauppa.example"]
    assert "\n" not in parsed["Message-ID"] and parsed["Message-ID"].count("<") == 1
    assert "\r" not in message_id("a\r\nb>", 1, "k.example")


def test_a_javascript_document_url_never_reaches_the_email():
    content = from_deal_closed(_signed_with("javascript:alert(1)"))  # type: ignore[arg-type]
    rendered = ConfirmationRenderer().render(content)
    assert "javascript:" not in rendered.html and "javascript:" not in rendered.text
    kept = from_deal_closed(_signed_with("https://sign.example/doc/1"))  # type: ignore[arg-type]
    assert "https://sign.example/doc/1" in ConfirmationRenderer().render(kept).html
    plain = from_deal_closed(_signed_with("http://sign.example/doc/1"))  # type: ignore[arg-type]
    assert plain.summary.signature.document_url is None  # type: ignore[union-attr]
    local = from_deal_closed(_signed_with("http://sign.example/d"), allow_http=True)  # type: ignore[arg-type]
    assert local.summary.signature.document_url == "http://sign.example/d"  # type: ignore[union-attr]


def test_an_organisation_id_never_leaves_the_template_folder(tmp_path: Path):
    folder = tmp_path / "templates"
    folder.mkdir()
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "confirmation.txt.j2").write_text("LEAKED {{ 1 }}")
    (outside / "confirmation.html.j2").write_text("LEAKED {{ 1 }}")
    deal = examples.deal_closed(organisation_id="org-demo")
    content = from_deal_closed(deal).model_copy(update={"organisation_id": "../secret"})
    rendered = ConfirmationRenderer(str(folder)).render(content)
    assert "LEAKED" not in rendered.text and "LEAKED" not in rendered.html
