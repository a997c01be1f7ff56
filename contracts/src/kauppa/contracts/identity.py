"""How the services recognise one company and one mailbox across the events they read.

Pure functions shared by every service that keys state on a prospect or erases by one
(handoff's duplicate check, closing's customer ids, the GDPR erasures): two services
that normalised differently would disagree about who a customer is, and an erasure
matched in one could miss in the other."""

from __future__ import annotations

import re

# Mailbox providers: an address there says nothing about which company a person works for.
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
        "elisanet.fi",
        "kolumbus.fi",
    }
)


_SEPARATORS = re.compile(r"[\s\-.]")
_COUNTRY_PREFIX = re.compile(r"^[A-Z]{2}(?=\d)")


def normalise_business_id(value: str | None) -> str | None:
    """``FI12345678`` / ``1234567-8`` / `` 1234567 - 8 `` all become ``12345678``: case,
    spaces, dashes and dots dropped, and a VAT-style country prefix before the digits."""
    if not value:
        return None
    text = _SEPARATORS.sub("", value.strip().upper())
    return _COUNTRY_PREFIX.sub("", text) or None


def normalise_email(value: str | None) -> str | None:
    """Lower case; ``+tag`` sub-addressing dropped (it is the same mailbox)."""
    if not value or "@" not in value:
        return None
    local, _, domain = value.strip().lower().rpartition("@")
    local = local.split("+", 1)[0]
    return f"{local}@{domain}" if local and domain else None


def company_domain(email: str | None) -> str | None:
    """The company's mail domain of an address, or None for a public mailbox provider."""
    normalised = normalise_email(email)
    if normalised is None:
        return None
    domain = normalised.rpartition("@")[2].rstrip(".")
    return None if not domain or domain in PUBLIC_MAIL_DOMAINS else domain
