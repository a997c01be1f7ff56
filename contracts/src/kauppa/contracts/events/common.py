"""Value objects shared by several events."""

from __future__ import annotations

from kauppa.contracts.base import CountryCode, Model
from kauppa.contracts.bounds import Id, ShortText, Text
from pydantic import Field


class LeadSource(Model):
    """Where a lead came from: the parties who get quality feedback (D3, D4)."""

    system: ShortText = Field(min_length=1, description="Upstream system that emitted the lead")
    booker: ShortText | None = Field(None, description="Booker / lead handler who qualified it")
    campaign: ShortText | None = Field(None, description="Campaign or call list it came from")
    partner: ShortText | None = Field(None, description="Outsourced sales/booking partner, if any")


class ContactPerson(Model):
    """The buying company's contact person. Lenient on purpose: handoff validates content."""

    name: ShortText | None = None
    title: ShortText | None = None
    email: ShortText | None = None
    phone: ShortText | None = None


class Prospect(Model):
    """The buying company."""

    company_name: ShortText
    business_id: ShortText | None = Field(
        None, description="Company registration id, e.g. FI 1234567-8"
    )
    contact: ContactPerson | None = None
    locale: ShortText = Field("fi-FI", description="BCP 47 tag of the customer's language")
    country: CountryCode = "FI"
    region: ShortText | None = None
    industry: ShortText | None = None
    size: ShortText | None = None


class Referral(Model):
    """Someone a customer recommended (D8, D13)."""

    name: ShortText
    company: ShortText | None = None
    email: ShortText | None = None
    phone: ShortText | None = None
    note: Text | None = None


class SellerCard(Model):
    """The seller's business card; the confirmation email carries it (D12.3)."""

    seller_id: Id
    name: ShortText
    title: ShortText | None = None
    phone: ShortText | None = None
    email: ShortText
    company: ShortText
    timezone: ShortText = Field("Europe/Helsinki", description="IANA zone of the seller's office")
