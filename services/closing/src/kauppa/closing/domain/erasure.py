"""GDPR erasure (``CustomerErased``): what of a deal is personal data and how it is
anonymised. Pure functions over the stored (JSON-form) deal document; no I/O.

Personal and erased: the prospect's contact person (name, title, email, phone), the
referrals recorded on the deal (name, company, email, phone, note),
the signer's name in the signature evidence, and the seller's free text about the
customer (contact summaries, loss reason, amendment change note), in the deal's state
and in every copy of an event in its history.
Kept: ids, company data (name, business id, country, region, industry, size), lines,
prices, dates, counts, stages, statuses, signature references, the seller's card (an
employee's business card) and the lead source (bookers and partners, not the customer).

Every function maps an already-erased document to itself, so an erasure delivered twice
changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kauppa.contracts.events.privacy import ERASED, ERASED_REFERRAL
from kauppa.servicekit.repository import Document


def same_email(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    return a.strip().casefold() == b.strip().casefold()


def erase_prospect(prospect: Document | None) -> Document | None:
    """The buying company stays; its contact person goes."""
    if prospect is None:
        return None
    return {**prospect, "contact": None}


def erase_referral(referral: Document) -> Document:
    return {**referral, **ERASED_REFERRAL}


def _erase_signature(summary: Document | None) -> Document | None:
    if not summary or not summary.get("signature"):
        return summary
    return {**summary, "signature": {**summary["signature"], "signed_by": None}}


def _redact(value: Any) -> Any:
    return ERASED if value else value


def _erase_event(kind: str, event: Document) -> Document:
    """One history line's event, as sent, without the customer's personal data."""
    out = dict(event)
    if "prospect" in out:  # DealOpened
        out["prospect"] = erase_prospect(out["prospect"])
    if "customer" in out:  # DealClosed, DealAmended
        out["customer"] = erase_prospect(out["customer"])
    if "summary" in out and isinstance(out["summary"], dict):  # DealClosed, DealAmended
        out["summary"] = _erase_signature(out["summary"])
    if kind == "ContactLogged" and "summary" in out:
        out["summary"] = _redact(out["summary"])
    if kind == "DealLost" and "reason" in out:
        out["reason"] = _redact(out["reason"])
    if "change_note" in out:
        out["change_note"] = _redact(out["change_note"])
    if isinstance(out.get("referrals"), list):
        out["referrals"] = [erase_referral(r) for r in out["referrals"]]
    if isinstance(out.get("referral"), dict):  # ReferralReceived
        out["referral"] = erase_referral(out["referral"])
    return out


def _map_history(deal: Document, erase: Callable[[str, Document], Document]) -> list[Document]:
    return [
        {**line, "event": erase(line.get("type", ""), line["event"])}
        if isinstance(line.get("event"), dict)
        else line
        for line in deal.get("history", [])
    ]


def erase_customer_deal(deal: Document) -> Document:
    """The fields to ``$set`` on a deal of the erased customer (only the changed ones)."""
    changes: Document = {
        "prospect": erase_prospect(deal.get("prospect")),
        "referrals": [erase_referral(r) for r in deal.get("referrals", [])],
        "history": _map_history(deal, _erase_event),
    }
    if "summary" in deal:
        changes["summary"] = _erase_signature(deal["summary"])
    if "lost_reason" in deal:
        changes["lost_reason"] = _redact(deal["lost_reason"])
    return {k: v for k, v in changes.items() if v != deal.get(k)}


def erase_referrals_of(deal: Document, email: str) -> Document:
    """On another customer's deal, only the referrals that are the erased person (same
    email) go; the fields to ``$set``."""

    def scrub(referral: Document) -> Document:
        return erase_referral(referral) if same_email(referral.get("email"), email) else referral

    def scrub_event(_: str, event: Document) -> Document:
        out = dict(event)
        if isinstance(out.get("referrals"), list):
            out["referrals"] = [scrub(r) for r in out["referrals"]]
        if isinstance(out.get("referral"), dict):
            out["referral"] = scrub(out["referral"])
        return out

    changes: Document = {
        "referrals": [scrub(r) for r in deal.get("referrals", [])],
        "history": _map_history(deal, scrub_event),
    }
    return {k: v for k, v in changes.items() if v != deal.get(k)}
