"""Who a prospect is, for spotting the same prospect arriving from a second source.

The business id is authoritative: two leads that both carry one are the same company
exactly when the ids match. Without it on either side, the normalised contact email, then
the email's company domain (not a public mailbox provider) identify the prospect.
"""

from __future__ import annotations

from collections.abc import Iterable
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


IDENTITY_KEYS = ("business_id", "email", "domain")


class OpenHandoffs:
    """Open handoffs that may be the same prospect as a batch's leads, indexed by each
    identity key, so matching a batch costs dictionary lookups, not a scan. Answers as
    ``same_prospect`` does."""

    def __init__(self, known: Iterable[tuple[str, ProspectIdentity, str]] = ()) -> None:
        self.by_key: dict[tuple[str, str, str, bool], list[str]] = {}
        for org, identity, lead_id in known:
            self.add(org, identity, lead_id)

    def match(self, org: str, identity: ProspectIdentity) -> tuple[str, str] | None:
        """The open handoff this prospect already has, and what matched (see
        ``same_prospect``: business id first; email, then domain, when either lacks one)."""
        if identity.business_id:
            found = self.by_key.get((org, "business_id", identity.business_id, True))
            if found:
                return found[0], "business_id"
        for field in ("email", "domain"):
            value = getattr(identity, field)
            if not value:
                continue
            found = self.by_key.get((org, field, value, False))
            if not found and not identity.business_id:
                found = self.by_key.get((org, field, value, True))
            if found:
                return found[0], field
        return None

    def add(self, org: str, identity: ProspectIdentity, lead_id: str) -> None:
        has_bid = identity.business_id is not None
        for field in IDENTITY_KEYS:
            value = getattr(identity, field)
            if value:
                self.by_key.setdefault((org, field, value, has_bid), []).append(lead_id)
