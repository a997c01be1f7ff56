"""Who a prospect is, for spotting the same prospect arriving from a second source.

The business id is authoritative: two leads that both carry one are the same company
exactly when the ids match. Without it on either side, the normalised contact email, then
the email's company domain (not a public mailbox provider) identify the prospect.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kauppa.contracts import Prospect

PUBLIC_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "hotmail.com",
        "outlook.com",
        "live.com",
        "yahoo.com",
        "icloud.com",
        "me.com",
        "protonmail.com",
        "proton.me",
        "gmx.com",
        "luukku.com",
        "suomi24.fi",
        "kolumbus.fi",
    }
)


@dataclass(frozen=True)
class ProspectIdentity:
    business_id: str | None
    email: str | None
    domain: str | None


def normalise_business_id(value: str | None) -> str | None:
    """``FI12345678`` / ``1234567-8`` / `` 1234567 - 8 `` all become ``12345678``."""
    if not value:
        return None
    text = re.sub(r"[\s\-.]", "", value.strip().upper())
    text = re.sub(r"^[A-Z]{2}(?=\d)", "", text)  # VAT-style country prefix
    return text or None


def normalise_email(value: str | None) -> str | None:
    """Lower case; ``+tag`` sub-addressing dropped (it is the same mailbox)."""
    if not value or "@" not in value:
        return None
    local, _, domain = value.strip().lower().rpartition("@")
    local = local.split("+", 1)[0]
    return f"{local}@{domain}" if local and domain else None


def identity_of(prospect: Prospect) -> ProspectIdentity:
    email = normalise_email(prospect.contact.email if prospect.contact else None)
    domain = email.rpartition("@")[2] if email else None
    if domain in PUBLIC_MAIL_DOMAINS:
        domain = None
    return ProspectIdentity(normalise_business_id(prospect.business_id), email, domain)


def same_prospect(new: ProspectIdentity, known: ProspectIdentity) -> str | None:
    """What the two leads matched on (``business_id``, ``email``, ``domain``), or None."""
    if new.business_id and known.business_id:
        return "business_id" if new.business_id == known.business_id else None
    if new.email and new.email == known.email:
        return "email"
    if new.domain and new.domain == known.domain:
        return "domain"
    return None
