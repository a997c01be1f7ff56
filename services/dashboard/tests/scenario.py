"""A known set of events for one fresh organisation, and the numbers the dashboard must
show for it. Shared by the integration test and the browser test."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kauppa.contracts import (
    ConfirmationFailed,
    ConfirmationSent,
    ContactDue,
    ContactKind,
    DealOpened,
    Envelope,
    FeedbackCallCompleted,
    HandoffReminderDue,
    LeadAccepted,
    LeadAssigned,
    LeadQueued,
    LeadReassigned,
    LeadRejected,
    LeadReturned,
    LeadSource,
    NextContactScheduled,
    QueueReason,
    ReturnReason,
    WebhookSubscriptionDisabled,
    envelope,
    examples,
)


@dataclass
class Scenario:
    org: str
    envelopes: list[Envelope] = field(default_factory=list)
    ids: dict[str, str] = field(default_factory=dict)

    def add(self, *events: Any) -> None:
        self.envelopes += [envelope(e, source="dashboard-test") for e in events]


def build(now: datetime | None = None) -> Scenario:
    """Five leads from two sources and three customers:

    - L1 (alpha): assigned to s1, accepted, deal D1 closed, confirmation sent 90 min
      later, delivered, feedback call done; C1 has an upcoming and an overdue contact.
    - L2 (alpha): assigned to s1, returned (not interested).
    - L3 (alpha): rejected at the gate (D1).
    - L4 (beta): assigned to s2, SLA reminder, reassigned with nobody free -> queued
      (LeadQueued: all at capacity).
    - L5 (beta): assigned to s2, accepted, deal D2 open with no contact for 20 days.
    - D3: closed without a lead for customer C2, confirmation failed permanently; C2 has
      no next contact (the D15 violation the dashboard must show).
    - W1: the organisation's webhook subscription was disabled after failing 36 h (the
      alert on the health panel).
    """
    now = now or datetime.now(UTC)
    tag = uuid.uuid4().hex[:8]
    org = f"org-dash-{tag}"
    sc = Scenario(org)
    alpha = LeadSource(
        system="alpha-web", booker="booker-anna", campaign="spring", partner="callco"
    )
    beta = LeadSource(system="beta-list", booker="booker-ben", campaign="fairs")
    hour = timedelta(hours=1)
    ids = {
        k: f"{k}-{tag}" for k in ("L1", "L2", "L3", "L4", "L5", "D1", "D2", "D3", "C1", "C2", "W1")
    }
    sc.ids = ids
    s1, s2 = f"s1-{tag}", f"s2-{tag}"
    sc.ids.update(s1=s1, s2=s2)
    p = examples.prospect()

    def qualified(lead: str, source: LeadSource) -> Any:
        return examples.lead_qualified(
            lead_id=ids[lead], organisation_id=org, source=source, qualified_at=now - 5 * hour
        )

    def assigned(lead: str, source: LeadSource, seller: str) -> LeadAssigned:
        return LeadAssigned(
            lead_id=ids[lead],
            organisation_id=org,
            seller_id=seller,
            source=source,
            prospect=p,
            criteria=examples.criteria(),
            assigned_at=now - 4 * hour,
            respond_by=now + 4 * hour,
        )

    sc.add(*(qualified(lead, alpha) for lead in ("L1", "L2", "L3")))
    sc.add(*(qualified(lead, beta) for lead in ("L4", "L5")))
    sc.add(
        LeadRejected(
            lead_id=ids["L3"],
            organisation_id=org,
            source=alpha,
            unmet_criteria=["budget"],
            rejected_at=now - 5 * hour,
        ),
        assigned("L1", alpha, s1),
        assigned("L2", alpha, s1),
        assigned("L4", beta, s2),
        assigned("L5", beta, s2),
        LeadAccepted(
            lead_id=ids["L1"],
            organisation_id=org,
            seller_id=s1,
            source=alpha,
            prospect=p,
            accepted_at=now - 3 * hour,
        ),
        LeadReturned(
            lead_id=ids["L2"],
            organisation_id=org,
            seller_id=s1,
            source=alpha,
            reason_code=ReturnReason.NOT_INTERESTED,
            returned_at=now - 3 * hour,
        ),
        HandoffReminderDue(
            lead_id=ids["L4"],
            organisation_id=org,
            seller_id=s2,
            assigned_at=now - 4 * hour,
            respond_by=now + 4 * hour,
            reminded_at=now - 2 * hour,
        ),
        LeadQueued(
            lead_id=ids["L4"],
            organisation_id=org,
            source=beta,
            reason=QueueReason.ALL_AT_CAPACITY,
            detail="all 1 present seller(s) who cover the lead are at capacity",
            attempt=1,
            queued_at=now - hour,
        ),
        LeadReassigned(
            lead_id=ids["L4"],
            organisation_id=org,
            from_seller_id=s2,
            to_seller_id=None,
            reassigned_at=now - hour,
        ),
        LeadAccepted(
            lead_id=ids["L5"],
            organisation_id=org,
            seller_id=s2,
            source=beta,
            prospect=p,
            accepted_at=now - 3 * hour,
        ),
        DealOpened(
            deal_id=ids["D1"],
            lead_id=ids["L1"],
            organisation_id=org,
            customer_id=ids["C1"],
            seller_id=s1,
            prospect=p,
            source=alpha,
            stage="discovery",
            opened_at=now - 3 * hour,
        ),
        DealOpened(
            deal_id=ids["D2"],
            lead_id=ids["L5"],
            organisation_id=org,
            customer_id=f"C5-{tag}",
            seller_id=s2,
            prospect=examples.prospect(company_name="Hiljainen Oy"),
            source=beta,
            stage="offer",
            opened_at=now - timedelta(days=20),
        ),
    )
    closed_at = now - 2 * hour
    seller1 = examples.seller_card(seller_id=s1)
    sc.add(
        examples.deal_closed(
            deal_id=ids["D1"],
            lead_id=ids["L1"],
            organisation_id=org,
            customer_id=ids["C1"],
            source=alpha,
            seller=seller1,
            closed_at=closed_at,
        ),
        examples.deal_closed(
            deal_id=ids["D3"],
            lead_id=None,
            organisation_id=org,
            customer_id=ids["C2"],
            seller=seller1,
            closed_at=now - timedelta(days=1),
        ),
        ConfirmationSent(
            deal_id=ids["D1"],
            organisation_id=org,
            seller_id=s1,
            version=1,
            message_id=f"<m-{tag}@kauppa>",
            closed_at=closed_at,
            sent_at=closed_at + timedelta(minutes=90),
        ),
        ConfirmationFailed(
            deal_id=ids["D3"],
            organisation_id=org,
            seller_id=s1,
            version=1,
            reason="550 mailbox unavailable",
            permanent=True,
            attempts=1,
            failed_at=now - timedelta(hours=20),
        ),
        examples.delivery_completed(
            deal_id=ids["D1"],
            customer_id=ids["C1"],
            organisation_id=org,
            delivered_at=now - hour,
        ),
        FeedbackCallCompleted(
            customer_id=ids["C1"],
            organisation_id=org,
            seller_id=s1,
            deal_id=ids["D1"],
            delivery_ok=True,
            completed_at=now - timedelta(minutes=30),
        ),
        NextContactScheduled(
            customer_id=ids["C1"],
            organisation_id=org,
            seller_id=s1,
            contact_id=f"next-{tag}",
            kind=ContactKind.SCHEDULED,
            due_at=now + timedelta(days=30),
            scheduled_at=now - timedelta(minutes=30),
        ),
        ContactDue(
            contact_id=f"overdue-{tag}",
            customer_id=ids["C1"],
            organisation_id=org,
            seller_id=s1,
            kind=ContactKind.FEEDBACK_CALL,
            due_at=now - timedelta(days=3),
            fired_at=now - timedelta(days=3),
            lateness_seconds=0,
        ),
        WebhookSubscriptionDisabled(
            subscription_id=ids["W1"],
            organisation_id=org,
            url_host="hooks.alpha.example",
            failing_since=now - timedelta(hours=38),
            disabled_at=now - timedelta(hours=2),
            reason="failing since 36 h: HTTP 503",
        ),
    )
    return sc


# What the dashboard must show for the scenario (period: 7 days).
FUNNEL = {
    "qualified": 5,
    "rejected_at_gate": 1,
    "assigned": 4,
    "accepted": 2,
    "returned": 1,
    "closed": 2,
    "lost": 0,
    "confirmed": 1,
    "delivered": 1,
    "feedback_done": 1,
}
QUALITY_SOURCE = {
    "alpha-web": {"qualified": 3, "rejected_at_gate": 1, "queued": 0, "accepted": 1, "returned": 1,
                  "acceptance_rate": 50.0, "closed": 1, "conversion_rate": 100.0},
    "beta-list": {"qualified": 2, "rejected_at_gate": 0, "queued": 1, "accepted": 1, "returned": 0,
                  "acceptance_rate": 100.0, "closed": 0, "conversion_rate": 0.0},
}  # fmt: skip
SLA = {"reminders": 1, "reassignments": 1, "unassigned_queue": 1}
STALE_DEALS = 1
CONFIRMATION_LATENCY_SECONDS = 90 * 60
CONFIRMATION_FAILURES = 1
CONTACTS_S1 = {"upcoming": 1, "due": 0, "overdue": 1}
WITHOUT_NEXT_CONTACT = 1
