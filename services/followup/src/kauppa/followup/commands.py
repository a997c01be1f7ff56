"""What HTTP and events both do to a relationship: a contact report arrives as
``POST /customers/{id}/contacts`` and as ``CustomerContactReported``; a classification
as ``PUT /customers/{id}/attributes`` and as ``CustomerClassificationSubmitted``. Each
loads through the repository, asks the aggregate, and leaves the writes to the caller's
``save`` (a handler saves once per batch). Refusals come from the domain; no HTTP here."""

from __future__ import annotations

from kauppa.contracts import Envelope
from kauppa.contracts.events.customers import (
    CustomerContactLogged,
    CustomerContactReported,
    FeedbackCallCompleted,
    NextContactScheduled,
    ProblemReported,
    ProblemResolved,
    SegmentCampaignCompleted,
    SegmentCampaignStarted,
)
from kauppa.contracts.events.deals import ReferralReceived
from kauppa.followup.domain.next_contact import ContactPolicy
from kauppa.followup.domain.relationship import (
    Caused,
    ContactReportRefused,
    CustomerRelationship,
    RelationshipRules,
)
from kauppa.followup.repository import Relationships
from kauppa.followup.settings import FollowupSettings
from kauppa.servicekit.repository import Document
from kauppa.servicekit.unit_of_work import UnitOfWork

# A reported contact: the contact itself, what it found, and the next contact (D15).
CONTACT_REPORT_EMITS = (
    CustomerContactLogged,
    FeedbackCallCompleted,
    ProblemReported,
    ProblemResolved,
    ReferralReceived,
    NextContactScheduled,
)
# The HTTP commands: contacts reported, campaigns started, an audit run on demand.
COMMAND_EMITS = (*CONTACT_REPORT_EMITS, SegmentCampaignStarted, SegmentCampaignCompleted)


def policy_of(settings: FollowupSettings) -> ContactPolicy:
    return ContactPolicy(
        default_next_contact_days=settings.default_next_contact_days,
        max_months_between_contacts=settings.max_months_between_contacts,
        reminder_repeat_days=settings.reminder_repeat_days,
        contact_hour=settings.contact_hour,
    )


def rules_of(settings: FollowupSettings) -> RelationshipRules:
    """What the relationship's verbs need from the settings."""
    return RelationshipRules(
        policy=policy_of(settings),
        feedback_call_business_days=settings.feedback_call_business_days,
        holiday_country=settings.holiday_country,
        default_timezone=settings.default_timezone,
        long_relationship_years=settings.long_relationship_years,
    )


def settle(
    uow: UnitOfWork,
    relationship: CustomerRelationship,
    caused: Caused,
    *,
    cause: Envelope | None = None,
) -> None:
    """Keep what a verb did: the relationship and its contact writes are saved with the
    repository's ``save``; its events and timers go with the unit of work."""
    relationships = uow.repository(Relationships)
    relationships.put(relationship)
    relationships.record(caused)
    uow.carry_out(caused, cause)


async def log_contact(
    uow: UnitOfWork,
    report: CustomerContactReported,
    rules: RelationshipRules,
    *,
    cause: Envelope | None = None,
) -> Document:
    """A seller logged a contact (D13-D15): ``CustomerRelationship.log_contact``, once
    per report id (a repeat answers ``duplicate``). Refused for a customer unknown here
    or erased."""
    relationships = uow.repository(Relationships)
    await relationships.load([report.customer_id])
    relationship = relationships.get(report.customer_id)
    if relationship is None or relationship.erased:
        raise ContactReportRefused(f"unknown customer {report.customer_id}")
    if await relationships.report_exists(report.report_id):
        return {"report_id": report.report_id, "duplicate": True}
    answered = (
        await relationships.contact_of(relationship, report.contact_id)
        if report.contact_id
        else None
    )
    logged = relationship.log_contact(report, answered, uow.now, rules)
    settle(uow, relationship, logged, cause=cause)
    await relationships.add_report(logged.report)
    return logged.summary()


async def classify(
    uow: UnitOfWork, customer_id: str, organisation_id: str, attributes: Document
) -> CustomerRelationship:
    """D17: the customer's classification (a relationship not known yet is started).
    Refused (``RelationshipErased``) for an erased customer."""
    relationships = uow.repository(Relationships)
    await relationships.load([customer_id])
    relationship = relationships.get(customer_id) or CustomerRelationship.new(
        customer_id, organisation_id, uow.now
    )
    relationship.classify(attributes)
    relationships.put(relationship)
    return relationship
