"""Who a prospect is, for spotting the same prospect arriving from a second source.

The business id is authoritative: two leads that both carry one are the same company
exactly when the ids match. Without it on either side, the normalised contact email, then
the email's company domain (not a public mailbox provider) identify the prospect.
"""

from __future__ import annotations

from dataclasses import dataclass

from kauppa.contracts import Prospect
from kauppa.contracts.identity import company_domain, normalise_business_id, normalise_email


@dataclass(frozen=True)
class ProspectIdentity:
    business_id: str | None
    email: str | None
    domain: str | None


def identity_of(prospect: Prospect) -> ProspectIdentity:
    email = normalise_email(prospect.contact.email if prospect.contact else None)
    return ProspectIdentity(
        normalise_business_id(prospect.business_id), email, company_domain(email)
    )


def same_prospect(new: ProspectIdentity, known: ProspectIdentity) -> str | None:
    """What the two leads matched on (``business_id``, ``email``, ``domain``), or None."""
    if new.business_id and known.business_id:
        return "business_id" if new.business_id == known.business_id else None
    if new.email and new.email == known.email:
        return "email"
    if new.domain and new.domain == known.domain:
        return "domain"
    return None
