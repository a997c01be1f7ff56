"""Which events a subscription may ask for, and what a subscription's filters look at.

The list is data: one line adds an event type. A name the contracts do not know (yet)
is skipped, so the list can name an event before the contracts ship it.
"""

from __future__ import annotations

from dataclasses import dataclass

from kauppa.contracts import Event, event_class_by_name

# The verdicts on a lead that flow back to its source (D3), the seller-facing
# assignments and reminders, and how the deal ended.
DELIVERABLE_NAMES: tuple[str, ...] = (
    "LeadRejected",  # refused at the gate (D1)
    "LeadLinkedAsDuplicate",  # the prospect already has an open handoff
    "LeadAssigned",  # a seller owns it
    "LeadQueued",  # no eligible seller yet: waiting in the queue
    "LeadReassigned",  # the SLA ran out; the next seller has it
    "HandoffReminderDue",  # the seller has not answered yet
    "LeadAccepted",  # the seller took it on
    "LeadReturned",  # the seller returned it, with a reason
    "DealClosed",  # won
    "DealLost",  # lost
    "StaleDealReminder",  # no contact on the deal for N days
    "ContactDue",  # call this customer now (D13-D17)
)


def deliverable_classes() -> tuple[type[Event], ...]:
    found = (event_class_by_name(name) for name in DELIVERABLE_NAMES)
    return tuple(cls for cls in found if cls is not None)


DELIVERABLE: tuple[type[Event], ...] = deliverable_classes()
DELIVERABLE_BY_NAME: dict[str, type[Event]] = {cls.type_name: cls for cls in DELIVERABLE}


@dataclass(frozen=True, slots=True)
class EventFacts:
    """What a subscription's filters look at in an event."""

    type_name: str
    organisation_id: str | None
    lead_id: str | None
    source_system: str | None
    partner: str | None
    seller_ids: frozenset[str]


def facts_of(event: Event, known_source: tuple[str, str | None] | None = None) -> EventFacts:
    """The facts of one event. ``known_source`` is the lead's source remembered from an
    earlier event, for events that do not carry it (a reassignment, a deal without it)."""
    source = getattr(event, "source", None)
    system = getattr(source, "system", None) if source is not None else None
    partner = getattr(source, "partner", None) if source is not None else None
    if system is None and known_source is not None:
        system, partner = known_source
    sellers = {
        s
        for s in (
            getattr(event, "seller_id", None),
            getattr(event, "to_seller_id", None),
            getattr(getattr(event, "seller", None), "seller_id", None),  # a deal's SellerCard
        )
        if isinstance(s, str)
    }
    lead_id = getattr(event, "lead_id", None)
    return EventFacts(
        type_name=event.type_name,
        organisation_id=getattr(event, "organisation_id", None),
        lead_id=lead_id if isinstance(lead_id, str) else None,
        source_system=system,
        partner=partner,
        seller_ids=frozenset(sellers),
    )


@dataclass(frozen=True, slots=True)
class Filters:
    """A subscription's optional filters; ``None`` matches anything."""

    source_system: str | None = None
    partner: str | None = None
    seller_id: str | None = None

    @classmethod
    def of(cls, doc: dict[str, str | None] | None) -> Filters:
        doc = doc or {}
        return cls(doc.get("source_system"), doc.get("partner"), doc.get("seller_id"))


def matches(
    facts: EventFacts, organisation_id: str, event_types: frozenset[str], filters: Filters
) -> bool:
    """Does a subscription of ``organisation_id`` get this event? Never another
    organisation's; a source filter matches only events whose lead's source is known and
    equal (the D3 loop: exactly that source's verdicts)."""
    if facts.organisation_id != organisation_id or facts.type_name not in event_types:
        return False
    if filters.source_system is not None and facts.source_system != filters.source_system:
        return False
    if filters.partner is not None and facts.partner != filters.partner:
        return False
    if filters.seller_id is not None and filters.seller_id not in facts.seller_ids:
        return False
    return True
