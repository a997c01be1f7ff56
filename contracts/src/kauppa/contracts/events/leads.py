"""Handoff events: a qualified lead to the right seller, and the verdict back to its source."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from kauppa.contracts import topics
from kauppa.contracts.base import Event, Model, UtcDatetime
from kauppa.contracts.bounds import MAX_ITEMS, Id, ShortText, Text
from kauppa.contracts.events.common import LeadSource, Prospect
from pydantic import Field


class Criterion(StrEnum):
    """The three criteria of D1; 'able to buy' is two facts: funding and authority."""

    BENEFIT = "benefit"
    READY_NOW = "ready_now"
    BUDGET = "budget"
    AUTHORITY = "authority"


class CriterionEvidence(Model):
    met: bool
    evidence: Text | None = Field(None, description="What discovery found, in the booker's words")


class QualificationCriteria(Model):
    """D1: (a) a real benefit, (b) ready to buy now, (c) able to buy: budget and authority."""

    benefit: CriterionEvidence
    ready_now: CriterionEvidence
    budget: CriterionEvidence
    authority: CriterionEvidence


class ReturnReason(StrEnum):
    NOT_INTERESTED = "not_interested"
    NO_BUDGET = "no_budget"
    NO_AUTHORITY = "no_authority"
    NOT_READY_NOW = "not_ready_now"
    WRONG_CONTACT = "wrong_contact"
    DUPLICATE = "duplicate"
    OTHER = "other"


class QueueReason(StrEnum):
    """Why no seller could take a lead (routing's first rule that left nobody)."""

    NO_ACTIVE_SELLER = "no_active_seller"
    NO_SELLER_FOR_REGION = "no_seller_for_region"
    NO_SELLER_FOR_PRODUCT = "no_seller_for_product"
    NO_SELLER_FOR_LANGUAGE = "no_seller_for_language"
    ALL_SLA_EXPIRED = "all_sla_expired"
    ALL_ABSENT = "all_absent"
    ALL_AT_CAPACITY = "all_at_capacity"


class Verdict(StrEnum):
    ACCEPT = "accept"
    RETURN = "return"


class LeadQualified(Event):
    type_name = "LeadQualified"
    topic = topics.LEADS_QUALIFIED.name
    key_field = "lead_id"
    emitted_by = "upstream marketing / booking systems"
    external_producer = True
    consumed_by = ("handoff", "dashboard")
    meaning = "Discovery is done: the source claims the prospect meets D1."

    lead_id: Id = Field(min_length=1)
    organisation_id: Id = Field(min_length=1, description="The sales organisation (tenant)")
    source: LeadSource
    prospect: Prospect
    criteria: QualificationCriteria
    product_interest: list[ShortText] = Field(
        default_factory=list, max_length=MAX_ITEMS, description="Product lines"
    )
    notes: Text | None = None
    qualified_at: UtcDatetime


class LeadRejected(Event):
    type_name = "LeadRejected"
    topic = topics.LEADS_HANDOFF.name
    key_field = "lead_id"
    emitted_by = "handoff"
    consumed_by = ("upstream source", "dashboard")
    meaning = "The gate refused the lead (D1): unmet criteria or malformed data. No seller saw it."

    lead_id: Id
    organisation_id: Id
    source: LeadSource
    unmet_criteria: list[Criterion] = Field(default_factory=list, max_length=MAX_ITEMS)
    problems: list[Text] = Field(
        default_factory=list, max_length=MAX_ITEMS, description="Malformed-data findings"
    )
    rejected_at: UtcDatetime


class LeadLinkedAsDuplicate(Event):
    type_name = "LeadLinkedAsDuplicate"
    topic = topics.LEADS_HANDOFF.name
    key_field = "lead_id"
    emitted_by = "handoff"
    consumed_by = ("upstream source", "dashboard")
    meaning = "The same prospect already has an open handoff; this lead is linked, not assigned."

    lead_id: Id
    organisation_id: Id
    source: LeadSource
    linked_to_lead_id: Id
    matched_on: ShortText = Field(description="business_id, email or domain")
    linked_at: UtcDatetime


class LeadAssigned(Event):
    type_name = "LeadAssigned"
    topic = topics.LEADS_HANDOFF.name
    key_field = "lead_id"
    emitted_by = "handoff"
    consumed_by = ("sellers' tools", "followup", "dashboard")
    meaning = "A seller owns the lead and must accept or return it by respond_by."

    lead_id: Id
    organisation_id: Id
    seller_id: Id
    source: LeadSource
    prospect: Prospect
    criteria: QualificationCriteria
    product_interest: list[ShortText] = Field(default_factory=list, max_length=MAX_ITEMS)
    assigned_at: UtcDatetime
    respond_by: UtcDatetime
    attempt: int = Field(1, ge=1, description="1 for the first seller, 2+ after reassignment")


class LeadQueued(Event):
    type_name = "LeadQueued"
    topic = topics.LEADS_HANDOFF.name
    key_field = "lead_id"
    emitted_by = "handoff"
    consumed_by = ("upstream source", "dashboard")
    meaning = (
        "No seller could take the lead; it waits in the unassigned queue, and why. "
        "LeadAssigned follows when a seller can take it."
    )

    lead_id: Id
    organisation_id: Id
    source: LeadSource
    reason: QueueReason = Field(description="Routing's first rule that left no seller")
    detail: Text = Field(description="The reason in words, with the lead's region, products...")
    product_interest: list[ShortText] = Field(default_factory=list, max_length=MAX_ITEMS)
    region: ShortText | None = None
    language: ShortText | None = Field(None, description="The prospect's language, e.g. fi")
    attempt: int = Field(
        0, ge=0, description="Assignments so far: 0 at intake, 1+ after an SLA lapsed"
    )
    queued_at: UtcDatetime


class HandoffReminderDue(Event):
    type_name = "HandoffReminderDue"
    topic = topics.LEADS_HANDOFF.name
    key_field = "lead_id"
    emitted_by = "handoff"
    consumed_by = ("sellers' tools", "dashboard")
    meaning = "The seller has not given a verdict within the reminder window."

    lead_id: Id
    organisation_id: Id
    seller_id: Id
    assigned_at: UtcDatetime
    respond_by: UtcDatetime
    reminded_at: UtcDatetime


class LeadReassigned(Event):
    type_name = "LeadReassigned"
    topic = topics.LEADS_HANDOFF.name
    key_field = "lead_id"
    emitted_by = "handoff"
    consumed_by = ("sellers' tools", "followup", "dashboard")
    meaning = "The SLA expired without a verdict; the next eligible seller gets the lead."

    lead_id: Id
    organisation_id: Id
    from_seller_id: Id
    to_seller_id: Id | None = Field(None, description="None: no eligible seller, queued")
    reason: Text = "sla_expired"
    reassigned_at: UtcDatetime


class LeadVerdictSubmitted(Event):
    type_name = "LeadVerdictSubmitted"
    topic = topics.SELLER_LEAD_VERDICTS.name
    key_field = "lead_id"
    emitted_by = "sellers' tools"
    external_producer = True
    consumed_by = ("handoff",)
    meaning = "A seller accepts or returns an assigned lead (D3)."

    lead_id: Id
    seller_id: Id
    verdict: Verdict
    reason_code: ReturnReason | None = None
    reason_text: Text | None = None
    submitted_at: UtcDatetime


class LeadAccepted(Event):
    type_name = "LeadAccepted"
    topic = topics.LEADS_HANDOFF.name
    key_field = "lead_id"
    emitted_by = "handoff"
    consumed_by = ("closing", "upstream source", "followup", "dashboard")
    meaning = "The seller takes the prospect onto the buying path; closing opens a deal."

    lead_id: Id
    organisation_id: Id
    seller_id: Id
    source: LeadSource
    prospect: Prospect
    product_interest: list[ShortText] = Field(default_factory=list, max_length=MAX_ITEMS)
    accepted_at: UtcDatetime
    assigned_at: datetime | None = None


class LeadReturned(Event):
    type_name = "LeadReturned"
    topic = topics.LEADS_HANDOFF.name
    key_field = "lead_id"
    emitted_by = "handoff"
    consumed_by = ("upstream source", "followup", "dashboard")
    meaning = "The seller returned the lead with a reason; the source gets the verdict (D3)."

    lead_id: Id
    organisation_id: Id
    seller_id: Id
    source: LeadSource
    reason_code: ReturnReason
    reason_text: Text | None = None
    returned_at: UtcDatetime
