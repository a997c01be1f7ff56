"""GDPR erasure rules (pure): what of a confirmation is personal and what stays."""

from __future__ import annotations

from kauppa.confirmation.domain.checklist import checklist
from kauppa.confirmation.domain.confirmation_content import from_deal_closed
from kauppa.confirmation.domain.erasure import ERASED, anonymise_content, scrub_emails
from kauppa.contracts import examples


def test_gdpr_anonymised_content_keeps_ids_amounts_and_dates_only() -> None:
    content = from_deal_closed(examples.deal_closed())
    erased = anonymise_content(content)
    assert erased.customer.contact is None and erased.recipient is None
    assert erased.customer.company_name == ERASED
    assert erased.customer_reference is None and erased.change_note is None
    assert erased.summary.signature.signed_by is None
    assert erased.summary.signature.document_url is None
    assert erased.customer_id == content.customer_id
    assert erased.customer.business_id == content.customer.business_id
    assert erased.summary.price == content.summary.price
    assert erased.summary.lines == content.summary.lines
    assert erased.agreed_at == content.agreed_at
    assert anonymise_content(erased) == erased  # idempotent
    text = "\n".join(checklist(erased))
    for personal in ("Maija", "esimerkki.fi", "PO-4711"):
        assert personal not in text


def test_gdpr_email_addresses_are_scrubbed_from_smtp_errors() -> None:
    reply = "550 5.1.1 <maija@esimerkki.fi>: Recipient address rejected"
    assert scrub_emails(reply) == f"550 5.1.1 <{ERASED}>: Recipient address rejected"
    assert scrub_emails(None) is None
