"""Closing events: the buying path (D5), upsell (D7), referrals (D8), the close (D9, D10)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import StrEnum

from kauppa.contracts import topics
from kauppa.contracts.base import Event, Model, Money, UtcDatetime
from kauppa.contracts.bounds import (
    MAX_ITEMS,
    MAX_LINES,
    Amount,
    DerivedId,
    Id,
    Percent,
    PositiveAmount,
    ShortText,
    Text,
    Url,
)
from kauppa.contracts.events.common import LeadSource, Prospect, Referral, SellerCard
from pydantic import Field


class ContactChannel(StrEnum):
    IN_PERSON = "in_person"
    REMOTE = "remote"
    PHONE = "phone"
    EMAIL = "email"


class SignatureMethod(StrEnum):
    """D10: how the customer committed."""

    ONSITE_SIGNED_FORM = "onsite_signed_form"
    ACCEPTED_OFFER = "accepted_offer"
    E_SIGNATURE = "e_signature"


class LineItem(Model):
    product_code: ShortText
    description: Text
    quantity: PositiveAmount
    unit_price: Money
    discount_percent: Percent = Decimal(0)
    upsell: bool = Field(False, description="Added at closing (D7)")
    bundle_rule: ShortText | None = Field(
        None, description="Bundle pricing rule that set the discount"
    )
    line_net: Money = Field(description="quantity x unit price less discount")


class DeliveryMilestone(Model):
    on: date
    description: Text


class DeliverySchedule(Model):
    """A single date is one milestone."""

    milestones: list[DeliveryMilestone] = Field(min_length=1, max_length=MAX_ITEMS)


class PriceSummary(Model):
    net: Money
    vat: Money
    total: Money
    vat_rate: Amount = Field(description="e.g. 25.5 for 25.5 %")


class PaymentTerms(Model):
    description: Text = Field(min_length=1, description="e.g. 14 days net")
    net_days: int = Field(ge=0)


class SignatureEvidence(Model):
    method: SignatureMethod
    signed_by: ShortText | None = None
    document_ref: ShortText | None = Field(None, description="Signed order form reference")
    offer_ref: ShortText | None = Field(None, description="Accepted offer reference")
    accepted_at: UtcDatetime | None = None
    envelope_id: ShortText | None = Field(None, description="E-signature service envelope")
    document_url: Url | None = Field(None, description="Copy of the signed order, if any")


class DealSummary(Model):
    """D9: what both sides agreed. A deal cannot close without every part of it."""

    lines: list[LineItem] = Field(min_length=1, max_length=MAX_LINES)
    delivery: DeliverySchedule
    price: PriceSummary
    payment_terms: PaymentTerms
    signature: SignatureEvidence


class DealOpened(Event):
    type_name = "DealOpened"
    topic = topics.DEALS.name
    key_field = "deal_id"
    emitted_by = "closing"
    consumed_by = ("dashboard",)
    meaning = "A seller accepted a lead; the buying path begins (D5)."

    deal_id: DerivedId
    lead_id: Id
    organisation_id: Id
    customer_id: DerivedId
    seller_id: Id
    prospect: Prospect
    source: LeadSource | None = None
    stage: ShortText
    opened_at: UtcDatetime


class ContactLogged(Event):
    type_name = "ContactLogged"
    topic = topics.DEALS.name
    key_field = "deal_id"
    emitted_by = "closing"
    consumed_by = ("dashboard",)
    meaning = "A touch on the buying path (D5, D6: many touches are normal)."

    deal_id: DerivedId
    organisation_id: Id
    seller_id: Id
    channel: ContactChannel
    contacted_at: UtcDatetime
    summary: Text


class OfferSent(Event):
    type_name = "OfferSent"
    topic = topics.DEALS.name
    key_field = "deal_id"
    emitted_by = "closing"
    consumed_by = ("dashboard",)
    meaning = "An offer went to the customer by email (D5)."

    deal_id: DerivedId
    organisation_id: Id
    seller_id: Id
    offer_ref: ShortText
    lines: list[LineItem] = Field(max_length=MAX_LINES)
    price: PriceSummary
    valid_until: date
    sent_at: UtcDatetime


class DealStageChanged(Event):
    type_name = "DealStageChanged"
    topic = topics.DEALS.name
    key_field = "deal_id"
    emitted_by = "closing"
    consumed_by = ("dashboard",)
    meaning = "The seller moved the deal along the organisation's stages."

    deal_id: DerivedId
    organisation_id: Id
    seller_id: Id
    from_stage: ShortText
    to_stage: ShortText
    changed_at: UtcDatetime


class StaleDealReminder(Event):
    type_name = "StaleDealReminder"
    topic = topics.DEALS.name
    key_field = "deal_id"
    emitted_by = "closing"
    consumed_by = ("sellers' tools", "dashboard")
    meaning = "No contact for N days: long deals must not be forgotten (D5)."

    deal_id: DerivedId
    organisation_id: Id
    seller_id: Id
    stage: ShortText
    last_contact_at: UtcDatetime
    days_without_contact: int


class DealLost(Event):
    type_name = "DealLost"
    topic = topics.DEALS.name
    key_field = "deal_id"
    emitted_by = "closing"
    consumed_by = ("handoff", "dashboard")
    meaning = "The deal ended without a sale."

    deal_id: DerivedId
    lead_id: Id
    organisation_id: Id
    seller_id: Id
    source: LeadSource | None = None
    reason: Text
    lost_at: UtcDatetime


class DealClosed(Event):
    type_name = "DealClosed"
    topic = topics.DEALS.name
    key_field = "deal_id"
    emitted_by = "closing"
    consumed_by = ("confirmation", "followup", "handoff", "dashboard")
    meaning = "Close won with a complete summary (D9) and signature evidence (D10)."

    deal_id: DerivedId
    lead_id: Id | None = None
    organisation_id: Id
    customer_id: DerivedId
    customer: Prospect
    customer_reference: ShortText | None = Field(None, description="The customer's own order ref")
    source: LeadSource | None = None
    seller: SellerCard
    summary: DealSummary
    referrals: list[Referral] = Field(default_factory=list, max_length=MAX_ITEMS)
    summary_version: int = 1
    closed_at: UtcDatetime


class DealAmended(Event):
    type_name = "DealAmended"
    topic = topics.DEALS.name
    key_field = "deal_id"
    emitted_by = "closing"
    consumed_by = ("confirmation", "followup", "dashboard")
    meaning = "The agreement changed after close; the full new summary travels with it."

    deal_id: DerivedId
    organisation_id: Id
    customer_id: DerivedId
    customer: Prospect
    customer_reference: ShortText | None = None
    seller: SellerCard
    summary: DealSummary
    summary_version: int = Field(ge=2)
    replaces_version: int = Field(ge=1)
    change_note: Text | None = None
    amended_at: UtcDatetime


class ReferralReceived(Event):
    type_name = "ReferralReceived"
    topic = topics.REFERRALS.name
    key_field = "referral_id"
    emitted_by = "closing, followup"
    consumed_by = ("booking side", "dashboard")
    meaning = "A customer recommended someone (D8, D13); the booking side qualifies them."

    referral_id: Id
    organisation_id: Id
    seller_id: Id
    referred_by_customer_id: DerivedId | None = None
    deal_id: DerivedId | None = None
    referral: Referral
    received_at: UtcDatetime
