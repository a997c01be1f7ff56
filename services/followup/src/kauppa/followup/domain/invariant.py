"""The invariant of D15/D16: every active customer has a scheduled next contact, no later
than 12 months after the last contact, and scheduled contacts do not go unfired.

The stored customer carries the facts the audit needs as indexable values, so the audit
asks index-bounded questions ("who has none", "who overshoots", "who is stuck") instead
of scanning every customer and comparing two fields."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from kauppa.followup.domain.next_contact import ContactPolicy, contact_deadline


class Violation(StrEnum):
    MISSING = "missing"  # no scheduled next contact at all
    BEYOND_DEADLINE = "beyond_deadline"  # next contact later than 12 months after the last
    STUCK = "stuck"  # due long ago, never fired (a lost timer)


def schedule_fields(
    next_due_at: datetime | None, last_contact_at: datetime, policy: ContactPolicy
) -> dict[str, Any]:
    """The customer's stored scheduling facts. ``next_contact_overshoot_s`` exists only
    when the next contact lies past the deadline (a sparse index finds those)."""
    deadline = contact_deadline(last_contact_at, policy)
    fields: dict[str, Any] = {
        "last_contact_at": last_contact_at,
        "contact_deadline": deadline,
        "next_contact_due_at": next_due_at,
    }
    if next_due_at is not None and next_due_at > deadline:
        fields["next_contact_overshoot_s"] = (next_due_at - deadline).total_seconds()
    else:
        fields["next_contact_overshoot_s"] = None
    return fields


@dataclass(frozen=True)
class CustomerSchedule:
    active: bool
    last_contact_at: datetime
    next_due_at: datetime | None


def violations(
    customer: CustomerSchedule, now: datetime, policy: ContactPolicy, stuck_grace: timedelta
) -> list[Violation]:
    """What is wrong with one customer's schedule (the definition the audit queries
    implement with indexes)."""
    if not customer.active:
        return []
    if customer.next_due_at is None:
        return [Violation.MISSING]
    found = []
    if customer.next_due_at > contact_deadline(customer.last_contact_at, policy):
        found.append(Violation.BEYOND_DEADLINE)
    if customer.next_due_at < now - stuck_grace:
        found.append(Violation.STUCK)
    return found


def repaired_due_at(customer: CustomerSchedule, now: datetime, policy: ContactPolicy) -> datetime:
    """Where a repair puts the next contact: the default, capped at the deadline, never in
    the past (an overdue customer is due now)."""
    deadline = contact_deadline(customer.last_contact_at, policy)
    if customer.next_due_at is not None and customer.next_due_at <= deadline:
        return max(customer.next_due_at, now)  # stuck: re-arm as it was (fires at once)
    default = customer.last_contact_at + timedelta(days=policy.default_next_contact_days)
    return max(min(default, deadline), now)
