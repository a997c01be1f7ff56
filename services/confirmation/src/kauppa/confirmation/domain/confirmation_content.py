"""D11/D12.2: the written record of everything agreed, one version per (deal, version).

A ``DealClosed`` gives version 1 (or its ``summary_version``); a ``DealAmended`` gives a
new version that replaces the previous one. The content is frozen when drafted, so a
resend after a crash renders exactly the same email.
"""

from __future__ import annotations

from kauppa.contracts.base import Model, UtcDatetime
from kauppa.contracts.events.common import Prospect, SellerCard
from kauppa.contracts.events.deals import DealAmended, DealClosed, DealSummary


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
    so receiving mail systems can drop a repeat after a crash."""
    return f"<confirmation-{deal_id}-v{version}@{domain}>"


def from_deal_closed(deal: DealClosed) -> ConfirmationContent:
    return ConfirmationContent(
        deal_id=deal.deal_id,
        version=deal.summary_version,
        replaces_version=deal.summary_version - 1 if deal.summary_version > 1 else None,
        organisation_id=deal.organisation_id,
        customer_id=deal.customer_id,
        customer=deal.customer,
        customer_reference=deal.customer_reference,
        seller=deal.seller,
        summary=deal.summary,
        agreed_at=deal.closed_at,
    )


def from_deal_amended(deal: DealAmended) -> ConfirmationContent:
    return ConfirmationContent(
        deal_id=deal.deal_id,
        version=deal.summary_version,
        replaces_version=deal.replaces_version,
        organisation_id=deal.organisation_id,
        customer_id=deal.customer_id,
        customer=deal.customer,
        customer_reference=deal.customer_reference,
        seller=deal.seller,
        summary=deal.summary,
        agreed_at=deal.amended_at,
        change_note=deal.change_note,
    )
