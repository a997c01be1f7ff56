"""Deterministic identities: one deal per accepted lead, one customer per buying company."""

from __future__ import annotations

import re
import unicodedata

from kauppa.contracts import Prospect
from kauppa.contracts.identity import company_domain, normalise_business_id

# Legal-form suffixes dropped when the company name is all we have.
_LEGAL_FORMS = {"oy", "oyj", "ab", "abp", "ky", "tmi", "ltd", "inc", "gmbh", "ag", "as", "llc"}


def deal_id_for(lead_id: str) -> str:
    """A redelivered ``LeadAccepted`` maps to the same deal, so it cannot open a second."""
    return f"deal-{lead_id}"


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    return "-".join(w for w in words if w not in _LEGAL_FORMS) or "-".join(words)


def customer_key(prospect: Prospect) -> str:
    """What identifies the buying company: its registration id when known, else the
    company email domain, else the normalised company name."""
    if business_id := normalise_business_id(prospect.business_id):
        return f"bid-{prospect.country}{business_id}"  # FI12345678 and 1234567-8 are one
    if domain := company_domain(prospect.contact.email if prospect.contact else None):
        return f"dom-{domain}"
    return f"name-{prospect.country}-{_slug(prospect.company_name)}"


def customer_id_for(organisation_id: str, prospect: Prospect) -> str:
    """Per sales organisation: two tenants selling to one company keep separate customers."""
    return f"cust-{organisation_id}-{customer_key(prospect)}"
