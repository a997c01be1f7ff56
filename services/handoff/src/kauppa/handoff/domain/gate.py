"""D1: the gate. A lead reaches a seller only when discovery established all three
criteria (benefit, ready now, able to buy = budget AND authority) and its data is usable.
Everything else goes back to the source with every reason named."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from kauppa.contracts import Criterion, LeadQualified

# Pragmatic, not RFC 5322: one @, a dotted domain, no spaces.
_EMAIL = re.compile(r"^[^@\s]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$")


@dataclass(frozen=True)
class GateDecision:
    unmet_criteria: list[Criterion] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def passes(self) -> bool:
        return not self.unmet_criteria and not self.problems


def unmet_criteria(lead: LeadQualified) -> list[Criterion]:
    """Every D1 criterion discovery did not establish, in the order D1 names them."""
    c = lead.criteria
    facts = {
        Criterion.BENEFIT: c.benefit.met,
        Criterion.READY_NOW: c.ready_now.met,
        Criterion.BUDGET: c.budget.met,
        Criterion.AUTHORITY: c.authority.met,
    }
    return [criterion for criterion, met in facts.items() if not met]


def is_valid_email(email: str) -> bool:
    return bool(_EMAIL.match(email.strip()))


@lru_cache(maxsize=1024)
def is_known_locale(tag: str) -> bool:
    """A BCP 47 tag babel knows (``fi-FI``, ``sv``, ``en-GB``)."""
    try:
        Locale.parse(tag.strip().replace("_", "-"), sep="-")
    except (UnknownLocaleError, ValueError, TypeError):
        return False
    return True


def data_problems(lead: LeadQualified) -> list[str]:
    """Malformed-data findings; the schema is lenient on purpose so these get a clear
    rejection instead of a dead letter."""
    problems: list[str] = []
    p = lead.prospect
    if not p.company_name.strip():
        problems.append("prospect company name is empty")
    contact = p.contact
    email = (contact.email or "").strip() if contact else ""
    phone = (contact.phone or "").strip() if contact else ""
    if contact is None or not (email or phone):
        problems.append("missing contact: a contact person with an email or a phone is required")
    if email and not is_valid_email(email):
        # Not quoted: the address is personal data and would outlive an erasure here.
        problems.append("bad email address: not of the form name@domain")
    if not is_known_locale(p.locale):
        problems.append(f"unknown locale: {p.locale!r}")
    return problems


def check_lead(lead: LeadQualified) -> GateDecision:
    """D1 plus data sanity: pass, or every reason it does not."""
    return GateDecision(unmet_criteria(lead), data_problems(lead))
