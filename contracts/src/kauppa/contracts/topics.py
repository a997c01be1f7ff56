"""Every Kafka topic Kauppa uses, with its aggregate key, partitions and retention."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    name: str
    key: str
    partitions: int = 3
    retention_days: int = 30
    meaning: str = ""

    @property
    def retention_ms(self) -> int:
        """The retention as Kafka's ``retention.ms`` topic config wants it."""
        return self.retention_days * 86_400_000


LEADS_QUALIFIED = Topic(
    "kauppa.leads.qualified", "lead_id", meaning="Upstream systems hand in leads"
)
LEADS_HANDOFF = Topic("kauppa.leads.handoff", "lead_id", meaning="The handoff's decisions on leads")
SELLER_LEAD_VERDICTS = Topic(
    "kauppa.sellers.lead-verdicts", "lead_id", meaning="Sellers' tools accept or return leads"
)
DEALS = Topic("kauppa.deals", "deal_id", meaning="The buying path of each deal")
REFERRALS = Topic("kauppa.referrals", "referral_id", meaning="Referrals for the booking side")
CONFIRMATIONS = Topic("kauppa.confirmations", "deal_id", meaning="Written order confirmations")
DELIVERIES = Topic("kauppa.deliveries", "deal_id", meaning="Delivery/ERP reports deliveries")
CUSTOMERS = Topic("kauppa.customers", "customer_id", meaning="Customer relationship facts")
CONTACTS_DUE = Topic("kauppa.contacts.due", "customer_id", meaning="Reminders to contact customers")
SELLER_CUSTOMER_CONTACTS = Topic(
    "kauppa.sellers.customer-contacts",
    "customer_id",
    meaning="Sellers' tools log customer contacts",
)
CRM_CLASSIFICATIONS = Topic(
    "kauppa.crm.classifications", "customer_id", meaning="CRM sets customer classification"
)
CAMPAIGNS = Topic("kauppa.campaigns", "campaign_id", meaning="Segment campaigns (D17)")
WEBHOOKS = Topic("kauppa.webhooks", "subscription_id", meaning="The state of webhook subscriptions")
PRIVACY = Topic(
    "kauppa.privacy", "customer_id", retention_days=365, meaning="GDPR erasure requests"
)

ALL_TOPICS: tuple[Topic, ...] = (
    LEADS_QUALIFIED,
    LEADS_HANDOFF,
    SELLER_LEAD_VERDICTS,
    DEALS,
    REFERRALS,
    CONFIRMATIONS,
    DELIVERIES,
    CUSTOMERS,
    CONTACTS_DUE,
    SELLER_CUSTOMER_CONTACTS,
    CRM_CLASSIFICATIONS,
    CAMPAIGNS,
    WEBHOOKS,
    PRIVACY,
)

SERVICES: tuple[str, ...] = (
    "handoff",
    "closing",
    "confirmation",
    "followup",
    "webhooks",
    "dashboard",
    "bench",
)


def dead_letter_topic(service: str) -> Topic:
    """Each service dead-letters into its own topic, so replay is per service."""
    return Topic(f"kauppa.dlq.{service}", "origin key", retention_days=90, meaning="Dead letters")


def all_topics() -> tuple[Topic, ...]:
    return ALL_TOPICS + tuple(dead_letter_topic(s) for s in SERVICES)
