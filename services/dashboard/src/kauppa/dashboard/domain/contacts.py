"""Scheduled customer contacts (D13-D16) as ops sees them: upcoming, due, overdue.

A contact moves scheduled -> due (ContactDue fired) -> done (the seller logged it).
A newer regular next contact supersedes an older one still waiting; erasure ends all.
Events arrive from several topics in any order, so a contact never moves backwards.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum


class ContactState(StrEnum):
    SCHEDULED = "scheduled"
    DUE = "due"
    SUPERSEDED = "superseded"
    DONE = "done"
    ERASED = "erased"


# Later states win; an event that arrives late cannot reopen a finished contact.
STATE_ORDER: tuple[str, ...] = tuple(s.value for s in ContactState)
OPEN_STATES: tuple[str, ...] = (ContactState.SCHEDULED.value, ContactState.DUE.value)
# Kinds that fill the customer's one regular "next contact" slot (D15, D16); feedback
# calls and campaign contacts come on top of it.
REGULAR_KINDS: tuple[str, ...] = ("scheduled", "yearly")


class Urgency(StrEnum):
    UPCOMING = "upcoming"
    DUE = "due"
    OVERDUE = "overdue"


def later_state(current: str | None, new: str) -> str:
    """The state after applying ``new`` to ``current`` (never backwards)."""
    if current is None or current not in STATE_ORDER:
        return new
    return current if STATE_ORDER.index(current) >= STATE_ORDER.index(new) else new


def urgency(due_at: datetime, now: datetime, overdue_after: timedelta) -> Urgency:
    """Upcoming before due_at; due until ``overdue_after`` has passed; then overdue."""
    if due_at > now:
        return Urgency.UPCOMING
    if now - due_at <= overdue_after:
        return Urgency.DUE
    return Urgency.OVERDUE


def lacks_next_contact(
    open_contacts: int, first_seen_at: datetime, now: datetime, grace: timedelta, erased: bool
) -> bool:
    """D15: every customer always has a next contact. A customer seen moments ago may
    still have its NextContactScheduled in flight on another topic (``grace``)."""
    if erased or open_contacts > 0:
        return False
    return now - first_seen_at > grace
