"""Confirmation events: the written order confirmation (D11, D12)."""

from __future__ import annotations

from enum import StrEnum

from kauppa.contracts import topics
from kauppa.contracts.base import Event, UtcDatetime
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

    deal_id: str
    organisation_id: str
    seller_id: str
    version: int = Field(ge=1)
    policy: SendPolicy
    send_at: UtcDatetime | None = Field(None, description="None: waits for seller approval")
    requires_approval: bool = False
    checklist: list[str] = Field(default_factory=list)
    scheduled_at: UtcDatetime


class ConfirmationSent(Event):
    type_name = "ConfirmationSent"
    topic = topics.CONFIRMATIONS.name
    key_field = "deal_id"
    emitted_by = "confirmation"
    consumed_by = ("dashboard",)
    meaning = "The SMTP server accepted the written confirmation (D11)."

    deal_id: str
    organisation_id: str
    seller_id: str
    version: int
    message_id: str
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

    deal_id: str
    organisation_id: str
    seller_id: str
    version: int
    reason: str
    permanent: bool
    attempts: int
    failed_at: UtcDatetime
