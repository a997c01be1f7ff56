"""D15/D16: after every contact there is a next one, never later than 12 months after the
last contact. When the seller names no date, the service picks one and says so."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from kauppa.followup.domain.calendar import add_months, at_local_hour


@dataclass(frozen=True)
class ContactPolicy:
    default_next_contact_days: int = 180
    max_months_between_contacts: int = 12
    reminder_repeat_days: int = 14
    contact_hour: int = 9


@dataclass(frozen=True)
class NextContact:
    due_at: datetime
    defaulted: bool  # the service chose (no date given, or the given one was too late)
    clamped: bool = False  # the seller's date was past the 12-month deadline


def contact_deadline(last_contact_at: datetime, policy: ContactPolicy) -> datetime:
    """D16: the latest moment the next contact may be scheduled for."""
    return add_months(last_contact_at, policy.max_months_between_contacts)


def decide_next_contact(
    requested_on: date | None,
    last_contact_at: datetime,
    now: datetime,
    policy: ContactPolicy,
    timezone: str,
) -> NextContact:
    """D15: the seller's date if given (at the start of their working day, not in the
    past); otherwise the default interval. Either way never past the deadline (D16)."""
    deadline = contact_deadline(last_contact_at, policy)
    if requested_on is None:
        due = min(last_contact_at + timedelta(days=policy.default_next_contact_days), deadline)
        return NextContact(max(due, now), defaulted=True)
    due = max(at_local_hour(requested_on, policy.contact_hour, timezone), now)
    if due > deadline:
        return NextContact(max(deadline, now), defaulted=True, clamped=True)
    return NextContact(due, defaulted=False)


def repeat_reminder(last_contact_at: datetime, now: datetime, policy: ContactPolicy) -> datetime:
    """A reminder went out but no contact is logged yet: the customer still needs a next
    contact (D15). Remind again later, but not past the deadline while it lies ahead."""
    again = now + timedelta(days=policy.reminder_repeat_days)
    deadline = contact_deadline(last_contact_at, policy)
    return min(again, deadline) if deadline > now else again
