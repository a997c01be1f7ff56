"""D11/D12.2: the written record of everything agreed, one version per (deal, version).

A ``DealClosed`` gives version 1 (or its ``summary_version``); a ``DealAmended`` gives a
new version that replaces the previous one. The content is frozen when drafted, so a
resend after a crash renders exactly the same email.
"""

from __future__ import annotations

import re

from kauppa.contracts.base import Model, UtcDatetime
from kauppa.contracts.events.common import Prospect, SellerCard
from kauppa.contracts.events.deals import DealAmended, DealClosed, DealSummary
from kauppa.servicekit.ids import allowed_url


class ConfirmationContent(Model):
    deal_id: str
    version: int
    replaces_version: int | None = None
    organisation_id: str
    customer_id: str
    customer: Prospect
    customer_reference: str | None = None
    seller: SellerCard
    summary: DealSummary
    agreed_at: UtcDatetime
    change_note: str | None = None

    @property
    def recipient(self) -> str | None:
        return self.customer.contact.email if self.customer.contact else None

    @property
    def key(self) -> str:
        return confirmation_key(self.deal_id, self.version)


def confirmation_key(deal_id: str, version: int) -> str:
    return f"{deal_id}:v{version}"


def message_id(deal_id: str, version: int, domain: str) -> str:
    """Deterministic: every attempt for one (deal, version) carries the same Message-ID,
    so receiving mail systems can drop a repeat after a crash. Characters of the deal id
    outside ``[A-Za-z0-9._-]`` become ``_`` (a Message-ID is a header: no CR/LF, no ``>``)."""
    safe = _NOT_MESSAGE_ID.sub("_", deal_id)
    return f"<confirmation-{safe}-v{version}@{_NOT_MESSAGE_ID.sub('_', domain)}>"


def seller_copy_message_id(deal_id: str, version: int, domain: str) -> str:
    """The seller's separate copy of one version: deterministic too, and distinct from
    the customer's (a different message to a different mailbox)."""
    safe = _NOT_MESSAGE_ID.sub("_", deal_id)
    return f"<confirmation-{safe}-v{version}-seller-copy@{_NOT_MESSAGE_ID.sub('_', domain)}>"


_NOT_MESSAGE_ID = re.compile(r"[^A-Za-z0-9._-]")


def safe_summary(summary: DealSummary, *, allow_http: bool) -> DealSummary:
    """The summary as it may reach the customer: a signed-copy link that is not https
    (http in the local profile) is left out (``javascript:`` never reaches the email)."""
    sig = summary.signature
    if sig is None or not sig.document_url or allowed_url(sig.document_url, allow_http=allow_http):
        return summary
    return summary.model_copy(update={"signature": sig.model_copy(update={"document_url": None})})


def from_deal_closed(deal: DealClosed, *, allow_http: bool = False) -> ConfirmationContent:
    return ConfirmationContent(
        deal_id=deal.deal_id,
        version=deal.summary_version,
        replaces_version=deal.summary_version - 1 if deal.summary_version > 1 else None,
        organisation_id=deal.organisation_id,
        customer_id=deal.customer_id,
        customer=deal.customer,
        customer_reference=deal.customer_reference,
        seller=deal.seller,
        summary=safe_summary(deal.summary, allow_http=allow_http),
        agreed_at=deal.closed_at,
    )


def from_deal_amended(deal: DealAmended, *, allow_http: bool = False) -> ConfirmationContent:
    return ConfirmationContent(
        deal_id=deal.deal_id,
        version=deal.summary_version,
        replaces_version=deal.replaces_version,
        organisation_id=deal.organisation_id,
        customer_id=deal.customer_id,
        customer=deal.customer,
        customer_reference=deal.customer_reference,
        seller=deal.seller,
        summary=safe_summary(deal.summary, allow_http=allow_http),
        agreed_at=deal.amended_at,
        change_note=deal.change_note,
    )
