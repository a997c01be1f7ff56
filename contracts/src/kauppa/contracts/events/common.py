"""Value objects shared by several events."""

from __future__ import annotations

from kauppa.contracts.base import CountryCode, Model
from pydantic import Field


class LeadSource(Model):
    """Where a lead came from: the parties who get quality feedback (D3, D4)."""

    system: str = Field(min_length=1, description="Upstream system that emitted the lead")
    booker: str | None = Field(None, description="Booker / lead handler who qualified it")
    campaign: str | None = Field(None, description="Campaign or call list it came from")
    partner: str | None = Field(None, description="Outsourced sales/booking partner, if any")


class ContactPerson(Model):
    """The buying company's contact person. Lenient on purpose: handoff validates content."""

    name: str | None = None
    title: str | None = None
    email: str | None = None
    phone: str | None = None


class Prospect(Model):
    """The buying company."""

    company_name: str
    business_id: str | None = Field(None, description="Company registration id, e.g. FI 1234567-8")
    contact: ContactPerson | None = None
    locale: str = Field("fi-FI", description="BCP 47 tag of the customer's language")
    country: CountryCode = "FI"
    region: str | None = None
    industry: str | None = None
    size: str | None = None


class Referral(Model):
    """Someone a customer recommended (D8, D13)."""

    name: str
    company: str | None = None
    email: str | None = None
    phone: str | None = None
    note: str | None = None


class SellerCard(Model):
    """The seller's business card; the confirmation email carries it (D12.3)."""

    seller_id: str
    name: str
    title: str | None = None
    phone: str | None = None
    email: str
    company: str
    timezone: str = Field("Europe/Helsinki", description="IANA zone of the seller's office")
