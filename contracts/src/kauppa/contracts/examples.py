"""Valid sample events for tests, benchmarks and the demo. Override any field."""

from __future__ import annotations

import itertools
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from kauppa.contracts.base import Money
from kauppa.contracts.events.common import ContactPerson, LeadSource, Prospect, SellerCard
from kauppa.contracts.events.customers import DeliveredItem, DeliveryCompleted
from kauppa.contracts.events.deals import (
    DealClosed,
    DealSummary,
    DeliveryMilestone,
    DeliverySchedule,
    LineItem,
    PaymentTerms,
    PriceSummary,
    SignatureEvidence,
    SignatureMethod,
)
from kauppa.contracts.events.leads import (
    CriterionEvidence,
    LeadQualified,
    LeadQueued,
    QualificationCriteria,
    QueueReason,
)
from kauppa.contracts.events.webhooks import WebhookSubscriptionDisabled


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# Business ids unique within a process (random ones collide at benchmark volumes, and
# the handoff links leads with the same business id as duplicates).
_business_ids = itertools.count(random.randrange(1_000_000, 9_000_000))


def business_id() -> str:
    number = next(_business_ids) % 10_000_000
    return f"{number:07d}-{number % 7}"


def criteria(**unmet: bool) -> QualificationCriteria:
    """All four met unless named ``benefit=False`` etc."""
    return QualificationCriteria(
        benefit=CriterionEvidence(met=unmet.get("benefit", True), evidence="Saves 2 h/day"),
        ready_now=CriterionEvidence(met=unmet.get("ready_now", True), evidence="Decides this Q"),
        budget=CriterionEvidence(met=unmet.get("budget", True), evidence="Budget 20 k€"),
        authority=CriterionEvidence(met=unmet.get("authority", True), evidence="CEO decides"),
    )


def prospect(**overrides: Any) -> Prospect:
    values: dict[str, Any] = {
        "company_name": "Esimerkki Oy",
        "business_id": business_id(),
        "contact": ContactPerson(
            name="Maija Meikäläinen",
            title="Toimitusjohtaja",
            email="maija@esimerkki.fi",
            phone="+358 40 123 4567",
        ),
        "locale": "fi-FI",
        "country": "FI",
        "region": "Uusimaa",
        "industry": "manufacturing",
    }
    values.update(overrides)
    return Prospect(**values)


def lead_qualified(**overrides: Any) -> LeadQualified:
    values: dict[str, Any] = {
        "lead_id": _id("lead"),
        "organisation_id": "org-demo",
        "source": LeadSource(
            system="marketing-automation", booker="booker-1", campaign="spring-2026"
        ),
        "prospect": prospect(),
        "criteria": criteria(),
        "product_interest": ["crm"],
        "qualified_at": datetime.now(UTC),
    }
    values.update(overrides)
    return LeadQualified(**values)


def lead_queued(**overrides: Any) -> LeadQueued:
    values: dict[str, Any] = {
        "lead_id": _id("lead"),
        "organisation_id": "org-demo",
        "source": LeadSource(
            system="marketing-automation", booker="booker-1", campaign="spring-2026"
        ),
        "reason": QueueReason.NO_SELLER_FOR_LANGUAGE,
        "detail": "no active seller covers language 'sv' in region 'Uusimaa' for 'crm'",
        "product_interest": ["crm"],
        "region": "Uusimaa",
        "language": "sv",
        "queued_at": datetime.now(UTC),
    }
    values.update(overrides)
    return LeadQueued(**values)


def seller_card(**overrides: Any) -> SellerCard:
    values: dict[str, Any] = {
        "seller_id": "seller-1",
        "name": "Sanna Myyjä",
        "title": "Account Manager",
        "phone": "+358 50 765 4321",
        "email": "sanna.myyja@kauppa.example",
        "company": "Kauppa Demo Oy",
        "timezone": "Europe/Helsinki",
    }
    values.update(overrides)
    return SellerCard(**values)


def eur(amount: str | int | Decimal) -> Money:
    return Money(amount=Decimal(str(amount)), currency="EUR")


def deal_summary(vat_rate: str = "25.5") -> DealSummary:
    line1 = LineItem(
        product_code="CRM-PRO",
        description="CRM Pro, annual licence",
        quantity=Decimal(2),
        unit_price=eur("1200.00"),
        line_net=eur("2400.00"),
    )
    line2 = LineItem(
        product_code="TRAIN-1D",
        description="Training day",
        quantity=Decimal(1),
        unit_price=eur("900.00"),
        discount_percent=Decimal(10),
        upsell=True,
        bundle_rule="second-product-10",
        line_net=eur("810.00"),
    )
    net = Decimal("3210.00")
    vat = (net * Decimal(vat_rate) / 100).quantize(Decimal("0.01"))
    return DealSummary(
        lines=[line1, line2],
        delivery=DeliverySchedule(
            milestones=[
                DeliveryMilestone(on=date.today() + timedelta(days=14), description="Licences"),
                DeliveryMilestone(on=date.today() + timedelta(days=30), description="Training"),
            ]
        ),
        price=PriceSummary(
            net=eur(net), vat=eur(vat), total=eur(net + vat), vat_rate=Decimal(vat_rate)
        ),
        payment_terms=PaymentTerms(description="14 days net", net_days=14),
        signature=SignatureEvidence(
            method=SignatureMethod.E_SIGNATURE,
            signed_by="Maija Meikäläinen",
            envelope_id="env-123",
            accepted_at=datetime.now(UTC),
        ),
    )


def deal_closed(**overrides: Any) -> DealClosed:
    values: dict[str, Any] = {
        "deal_id": _id("deal"),
        "lead_id": _id("lead"),
        "organisation_id": "org-demo",
        "customer_id": _id("cust"),
        "customer": prospect(),
        "customer_reference": "PO-4711",
        "source": LeadSource(system="marketing-automation"),
        "seller": seller_card(),
        "summary": deal_summary(),
        "closed_at": datetime.now(UTC),
    }
    values.update(overrides)
    return DealClosed(**values)


def delivery_completed(**overrides: Any) -> DeliveryCompleted:
    values: dict[str, Any] = {
        "delivery_id": _id("dlv"),
        "deal_id": _id("deal"),
        "customer_id": _id("cust"),
        "organisation_id": "org-demo",
        "items": [DeliveredItem(product_code="CRM-PRO", quantity=Decimal(2))],
        "delivered_at": datetime.now(UTC),
    }
    values.update(overrides)
    return DeliveryCompleted(**values)


def webhook_subscription_disabled(**overrides: Any) -> WebhookSubscriptionDisabled:
    now = datetime.now(UTC)
    failing_since = now - timedelta(hours=36)
    values: dict[str, Any] = {
        "subscription_id": _id("whsub"),
        "organisation_id": "org-demo",
        "url_host": "hooks.partner.example",
        "failing_since": failing_since,
        "disabled_at": now,
        "reason": f"failing since {failing_since.isoformat()}: HTTP 503",
    }
    values.update(overrides)
    return WebhookSubscriptionDisabled(**values)
