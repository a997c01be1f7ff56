"""GDPR erasure (``CustomerErased``): what of a confirmation is personal, and what stays.

Removed: the contact person (name, title, email, phone), the recipient address, the
company name (a sole trader's name is a person's name), the customer's reference, the
change note and the seller's note (free text that may name people), the signer's name
and the link to the signed copy (the signed document itself). Email addresses are also
scrubbed out of the last SMTP error. Kept: ids (deal, customer, organisation, seller,
business id, document/offer/envelope refs), the lines, amounts, dates, delivery
schedule, payment terms, locale, country, industry, size, states and attempt counts,
so statistics stay true. Pure: no I/O, ``now`` comes from the caller.
"""

from __future__ import annotations

import re

from kauppa.confirmation.domain.confirmation_content import ConfirmationContent
from kauppa.contracts.events.privacy import ERASED

ERASED_REASON = "not sent: the customer's personal data was erased (GDPR)"
_EMAIL = re.compile(r"[^\s<>@\"'(),;:]+@[^\s<>@\"'(),;:]+")


def anonymise_content(content: ConfirmationContent) -> ConfirmationContent:
    """The same confirmation without the personal data. Idempotent."""
    customer = content.customer.model_copy(update={"company_name": ERASED, "contact": None})
    signature = content.summary.signature.model_copy(
        update={"signed_by": None, "document_url": None}
    )
    summary = content.summary.model_copy(update={"signature": signature})
    return content.model_copy(
        update={
            "customer": customer,
            "customer_reference": None,
            "change_note": None,
            "summary": summary,
        }
    )


def scrub_emails(text: str | None) -> str | None:
    """An SMTP reply often quotes the address (``550 <a@b>: no such user``)."""
    return None if text is None else _EMAIL.sub(ERASED, text)
