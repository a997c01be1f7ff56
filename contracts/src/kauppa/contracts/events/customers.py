"""Follow-up events: deliveries, feedback calls, next contacts, segments (D13-D18)."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from kauppa.contracts import topics
from kauppa.contracts.base import Event, Model, UtcDatetime
from kauppa.contracts.bounds import (
    MAX_ITEMS,
    MAX_LINES,
    ComposedText,
    DerivedId,
    Id,
    PositiveAmount,
    ShortText,
    Text,
)
from kauppa.contracts.events.common import Referral
from pydantic import Field


class DeliveredItem(Model):
    product_code: ShortText
    quantity: PositiveAmount


class DeliveryCompleted(Event):
    type_name = "DeliveryCompleted"
    topic = topics.DELIVERIES.name
    key_field = "deal_id"
    emitted_by = "delivery / ERP systems"
    external_producer = True
    consumed_by = ("followup", "dashboard")
    meaning = "What was delivered and when; starts the feedback-call clock (D13)."

    delivery_id: Id
    deal_id: DerivedId
    customer_id: DerivedId
    organisation_id: Id
    items: list[DeliveredItem] = Field(default_factory=list, max_length=MAX_LINES)
    delivered_at: UtcDatetime
    notes: Text | None = None


class ContactKind(StrEnum):
    FEEDBACK_CALL = "feedback_call"
    SCHEDULED = "scheduled"
    YEARLY = "yearly"
    CAMPAIGN = "campaign"


class TalkingPoint(Model):
    code: ShortText = Field(
        description="check_delivery, fix_problems, ask_more_business, ask_referrals"
    )
    text: ComposedText


class ContactDue(Event):
    type_name = "ContactDue"
    topic = topics.CONTACTS_DUE.name
    key_field = "customer_id"
    emitted_by = "followup"
    consumed_by = ("sellers' tools", "dashboard")
    meaning = "Call this customer now, and this is what to do on the call (D13-D17)."

    contact_id: Id = Field(description="Unique per scheduled contact")
    customer_id: DerivedId
    organisation_id: Id
    seller_id: Id
    kind: ContactKind
    due_at: UtcDatetime
    fired_at: UtcDatetime
    lateness_seconds: float = Field(ge=0)
    talking_points: list[TalkingPoint] = Field(default_factory=list, max_length=MAX_ITEMS)
    campaign_id: Id | None = None
    reason: Text | None = None


class CustomerContactReported(Event):
    type_name = "CustomerContactReported"
    topic = topics.SELLER_CUSTOMER_CONTACTS.name
    key_field = "customer_id"
    emitted_by = "sellers' tools"
    external_producer = True
    consumed_by = ("followup",)
    meaning = "A seller reports a customer contact and decides the next one (D15)."

    report_id: Id
    customer_id: DerivedId
    seller_id: Id
    contact_id: Id | None = Field(None, description="The ContactDue this answers, if any")
    contacted_at: UtcDatetime
    delivery_ok: bool | None = None
    problems: list[Text] = Field(default_factory=list, max_length=MAX_ITEMS)
    resolved_problem_ids: list[Id] = Field(default_factory=list, max_length=MAX_ITEMS)
    upsell_interest: bool = False
    referrals: list[Referral] = Field(default_factory=list, max_length=MAX_ITEMS)
    next_contact_on: date | None = None
    notes: Text | None = None


class CustomerContactLogged(Event):
    type_name = "CustomerContactLogged"
    topic = topics.CUSTOMERS.name
    key_field = "customer_id"
    emitted_by = "followup"
    consumed_by = ("dashboard",)
    meaning = "A contact with a customer happened; its outcome."

    customer_id: DerivedId
    organisation_id: Id
    seller_id: Id
    contact_id: Id | None = None
    kind: ContactKind
    contacted_at: UtcDatetime
    delivery_ok: bool | None = None
    upsell_interest: bool = False
    notes: Text | None = None


class FeedbackCallCompleted(Event):
    type_name = "FeedbackCallCompleted"
    topic = topics.CUSTOMERS.name
    key_field = "customer_id"
    emitted_by = "followup"
    consumed_by = ("dashboard",)
    meaning = "The feedback call after delivery happened (D13)."

    customer_id: DerivedId
    organisation_id: Id
    seller_id: Id
    deal_id: DerivedId | None = None
    delivery_ok: bool
    completed_at: UtcDatetime


class ProblemReported(Event):
    type_name = "ProblemReported"
    topic = topics.CUSTOMERS.name
    key_field = "customer_id"
    emitted_by = "followup"
    consumed_by = ("dashboard",)
    meaning = "Something went wrong for the customer; no upsell until it is fixed (D14)."

    problem_id: Id
    customer_id: DerivedId
    organisation_id: Id
    seller_id: Id
    deal_id: DerivedId | None = None
    description: Text
    reported_at: UtcDatetime


class ProblemResolved(Event):
    type_name = "ProblemResolved"
    topic = topics.CUSTOMERS.name
    key_field = "customer_id"
    emitted_by = "followup"
    consumed_by = ("dashboard",)
    meaning = "A reported problem is fixed."

    problem_id: Id
    customer_id: DerivedId
    organisation_id: Id
    resolution: Text | None = None
    resolved_at: UtcDatetime


class NextContactScheduled(Event):
    type_name = "NextContactScheduled"
    topic = topics.CUSTOMERS.name
    key_field = "customer_id"
    emitted_by = "followup"
    consumed_by = ("dashboard",)
    meaning = "Every customer always has a next contact (D15, D16)."

    customer_id: DerivedId
    organisation_id: Id
    seller_id: Id
    contact_id: Id
    kind: ContactKind
    due_at: UtcDatetime
    defaulted: bool = Field(False, description="The seller gave none; the service chose it")
    scheduled_at: UtcDatetime


class CustomerAttributes(Model):
    """Classification for segment campaigns (D17)."""

    industry: ShortText | None = None
    size: ShortText | None = None
    region: ShortText | None = None
    products_owned: list[ShortText] = Field(default_factory=list, max_length=MAX_ITEMS)
    renewal_month: int | None = Field(None, ge=1, le=12)
    tags: list[ShortText] = Field(default_factory=list, max_length=MAX_ITEMS)
    customer_since: date | None = Field(
        None, description="When the relationship began, if older than the deals Kauppa saw (D14)"
    )


class CustomerClassificationSubmitted(Event):
    type_name = "CustomerClassificationSubmitted"
    topic = topics.CRM_CLASSIFICATIONS.name
    key_field = "customer_id"
    emitted_by = "CRM"
    external_producer = True
    consumed_by = ("followup",)
    meaning = "The CRM sets a customer's classification attributes (D17)."

    customer_id: DerivedId
    organisation_id: Id
    attributes: CustomerAttributes
    submitted_at: UtcDatetime


class SegmentCriteria(Model):
    """All given fields must match; lists match when the customer has any of the values."""

    industries: list[ShortText] = Field(default_factory=list, max_length=MAX_ITEMS)
    sizes: list[ShortText] = Field(default_factory=list, max_length=MAX_ITEMS)
    regions: list[ShortText] = Field(default_factory=list, max_length=MAX_ITEMS)
    products_owned: list[ShortText] = Field(default_factory=list, max_length=MAX_ITEMS)
    renewal_months: list[int] = Field(default_factory=list, max_length=12)
    tags: list[ShortText] = Field(default_factory=list, max_length=MAX_ITEMS)


class SegmentCampaignStarted(Event):
    type_name = "SegmentCampaignStarted"
    topic = topics.CAMPAIGNS.name
    key_field = "campaign_id"
    emitted_by = "followup"
    consumed_by = ("dashboard",)
    meaning = "An external opening: contact every matching customer before competitors (D17)."

    campaign_id: Id
    organisation_id: Id
    criteria: SegmentCriteria
    reason: Text
    due_from: UtcDatetime
    due_until: UtcDatetime
    matched_customers: int
    started_at: UtcDatetime


class SegmentCampaignCompleted(Event):
    type_name = "SegmentCampaignCompleted"
    topic = topics.CAMPAIGNS.name
    key_field = "campaign_id"
    emitted_by = "followup"
    consumed_by = ("dashboard",)
    meaning = "Every matching customer has a ContactDue for the campaign."

    campaign_id: Id
    organisation_id: Id
    contacts_created: int
    completed_at: UtcDatetime
