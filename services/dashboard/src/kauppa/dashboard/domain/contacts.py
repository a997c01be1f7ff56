"""Scheduled customer contacts (D13-D16) as ops sees them: upcoming, due, overdue.

A contact moves scheduled -> due (ContactDue fired) -> done (the seller logged it).
A newer regular next contact supersedes an older one still waiting; erasure ends all.
Events arrive from several topics in any order, so a contact never moves backwards.

The rules themselves run in MongoDB: the forward-only state in
``projections._state_expr``, upcoming/due/overdue in ``repository.contacts_per_seller`` and
the missing next contact in ``repository.customers_without_next_contact``.
"""

from __future__ import annotations

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
