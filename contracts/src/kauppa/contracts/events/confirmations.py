"""Confirmation events: the written order confirmation (D11, D12)."""

from __future__ import annotations

from enum import StrEnum

from kauppa.contracts import topics
from kauppa.contracts.base import Event, UtcDatetime
from kauppa.contracts.bounds import MAX_CHECKLIST, ComposedText, DerivedId, Id, ShortText, Text
from pydantic import Field


class SendPolicy(StrEnum):
    IMMEDIATE = "immediate"
    NEXT_BUSINESS_MORNING = "next_business_morning"
    SELLER_REVIEW = "seller_review"


class ConfirmationScheduled(Event):
    type_name = "ConfirmationScheduled"
    topic = topics.CONFIRMATIONS.name
    key_field = "deal_id"
    emitted_by = "confirmation"
    consumed_by = ("sellers' tools", "dashboard")
    meaning = "A draft awaits its send time; the seller can review the checklist (D12.1)."

    deal_id: DerivedId
    organisation_id: Id
    seller_id: Id
    version: int = Field(ge=1)
    policy: SendPolicy
    send_at: UtcDatetime | None = Field(None, description="None: waits for seller approval")
    requires_approval: bool = False
    checklist: list[ComposedText] = Field(default_factory=list, max_length=MAX_CHECKLIST)
    scheduled_at: UtcDatetime


class ConfirmationSent(Event):
    type_name = "ConfirmationSent"
    topic = topics.CONFIRMATIONS.name
    key_field = "deal_id"
    emitted_by = "confirmation"
    consumed_by = ("dashboard",)
    meaning = "The SMTP server accepted the written confirmation (D11)."

    deal_id: DerivedId
    organisation_id: Id
    seller_id: Id
    version: int
    message_id: ShortText
    replaces_version: int | None = None
    closed_at: UtcDatetime | None = None
    sent_at: UtcDatetime


class ConfirmationFailed(Event):
    type_name = "ConfirmationFailed"
    topic = topics.CONFIRMATIONS.name
    key_field = "deal_id"
    emitted_by = "confirmation"
    consumed_by = ("sellers' tools", "dashboard")
    meaning = "The confirmation could not be sent: permanent refusal or retries exhausted."

    deal_id: DerivedId
    organisation_id: Id
    seller_id: Id
    version: int
    reason: Text
    permanent: bool
    attempts: int
    failed_at: UtcDatetime
