"""How each event changes the dashboard's read models: pure functions from an event to
MongoDB write operations (no I/O here; the handler writes them in bulk through
``repository.ReadModels``; the collections are named there, the erasure's part is in
``erasure.py``).

Events of one aggregate arrive in order, but a lead's, a deal's and a customer's events
travel on different topics, so these writes must not depend on order across topics:
every write is an upsert of independent fields, first/last times use ``$min``/``$max``,
and contact states only move forward (``_state_expr``, in the order of
``domain.contacts.STATE_ORDER``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from kauppa.contracts import (
    ConfirmationFailed,
    ConfirmationScheduled,
    ConfirmationSent,
    ContactDue,
    ContactLogged,
    CustomerContactLogged,
    CustomerErased,
    DealAmended,
    DealClosed,
    DealLost,
    DealOpened,
    DealStageChanged,
    DeliveryCompleted,
    Envelope,
    Event,
    FeedbackCallCompleted,
    HandoffReminderDue,
    LeadAccepted,
    LeadAssigned,
    LeadLinkedAsDuplicate,
    LeadQualified,
    LeadQueued,
    LeadReassigned,
    LeadRejected,
    LeadReturned,
    LeadSource,
    NextContactScheduled,
    OfferSent,
    ProblemReported,
    ProblemResolved,
    ReferralReceived,
    SegmentCampaignCompleted,
    SegmentCampaignStarted,
    StaleDealReminder,
    WebhookSubscriptionDisabled,
)
from kauppa.dashboard.domain.contacts import REGULAR_KINDS, STATE_ORDER, ContactState
from kauppa.dashboard.erasure import customer_erased, scrubbed
from kauppa.dashboard.repository import (
    CAMPAIGNS,
    CONFIRMATION_FAILURES,
    CONTACTS,
    CUSTOMERS,
    DEALS,
    FEEDBACK_CALLS,
    LEADS,
    PROBLEMS,
    REFERRALS,
    SLA_BREACHES,
    WEBHOOK_ALERTS,
    Write,
    upsert,
)
from pymongo import UpdateMany, UpdateOne

Projection = Callable[[Any, Envelope], list[Write]]


def _lead(lead_id: str, org: str, source: LeadSource | None, **update: Any) -> Write:
    """A lead write; the source and organisation are known to every lead event, so a
    lead first seen through a later event still lands in the right quality row."""
    on_insert: dict[str, Any] = {"organisation_id": org}
    if source is not None:
        on_insert["source"] = source.model_dump()
    return upsert(LEADS, lead_id, {**update, "$setOnInsert": on_insert})


def _customer(customer_id: str, org: str, seen_at: datetime, seller_id: str | None) -> Write:
    update: dict[str, Any] = {
        "$min": {"first_seen_at": seen_at},
        "$setOnInsert": {"organisation_id": org},
    }
    if seller_id and seller_id != "unassigned":
        update["$set"] = {"seller_id": seller_id}
    return upsert(CUSTOMERS, customer_id, update)


def _state_expr(new: ContactState) -> dict[str, Any]:
    """Aggregation expression: the later of the stored state and ``new``."""
    order = list(STATE_ORDER)
    return {
        "$cond": [
            {
                "$gte": [
                    {"$indexOfArray": [order, {"$ifNull": ["$state", "none"]}]},
                    order.index(new.value),
                ]
            },
            "$state",
            new.value,
        ]
    }


def _contact(contact_id: str, new: ContactState, fields: dict[str, Any]) -> Write:
    """Upsert a contact through an update pipeline, so its state only moves forward."""
    stage = {k: {"$literal": v} for k, v in fields.items()}
    stage["state"] = _state_expr(new)
    return CONTACTS, UpdateOne({"_id": contact_id}, [{"$set": stage}], upsert=True)


# ----------------------------------------------------------------------------- leads


def lead_qualified(e: LeadQualified, env: Envelope) -> list[Write]:
    return [
        upsert(
            LEADS,
            e.lead_id,
            {
                "$set": {
                    "organisation_id": e.organisation_id,
                    "source": e.source.model_dump(),
                    "qualified_at": e.qualified_at,
                }
            },
        )
    ]


def lead_rejected(e: LeadRejected, env: Envelope) -> list[Write]:
    return [
        _lead(
            e.lead_id,
            e.organisation_id,
            e.source,
            **{
                "$set": {
                    "rejected_at": e.rejected_at,
                    "unmet_criteria": [str(c) for c in e.unmet_criteria],
                    "queued": False,
                }
            },
        )
    ]


def lead_linked(e: LeadLinkedAsDuplicate, env: Envelope) -> list[Write]:
    return [
        _lead(
            e.lead_id,
            e.organisation_id,
            e.source,
            **{"$set": {"linked_at": e.linked_at, "linked_to": e.linked_to_lead_id}},
        )
    ]


def lead_queued(e: LeadQueued, env: Envelope) -> list[Write]:
    """No seller could take the lead: it waits, and why (the latest stay's reason; the
    first time it ever waited counts it as queued in source quality)."""
    return [
        _lead(
            e.lead_id,
            e.organisation_id,
            e.source,
            **{
                "$set": {
                    "queued": True,
                    "queued_since": e.queued_at,
                    "queue_reason": str(e.reason),
                    "queue_detail": e.detail,
                },
                "$min": {"first_queued_at": e.queued_at},
            },
        )
    ]


def lead_assigned(e: LeadAssigned, env: Envelope) -> list[Write]:
    return [
        _lead(
            e.lead_id,
            e.organisation_id,
            e.source,
            **{
                "$min": {"assigned_at": e.assigned_at},
                "$set": {
                    "seller_id": e.seller_id,
                    "last_assigned_at": e.assigned_at,
                    "respond_by": e.respond_by,
                    "attempt": e.attempt,
                    "queued": False,
                },
            },
        )
    ]


def handoff_reminder(e: HandoffReminderDue, env: Envelope) -> list[Write]:
    return [
        _lead(
            e.lead_id,
            e.organisation_id,
            None,
            **{"$inc": {"reminders": 1}, "$max": {"last_reminded_at": e.reminded_at}},
        ),
        upsert(
            SLA_BREACHES,
            env.id,
            {
                "$set": {
                    "organisation_id": e.organisation_id,
                    "kind": "reminder",
                    "lead_id": e.lead_id,
                    "seller_id": e.seller_id,
                    "at": e.reminded_at,
                    "respond_by": e.respond_by,
                }
            },
        ),
    ]


def lead_reassigned(e: LeadReassigned, env: Envelope) -> list[Write]:
    queued = e.to_seller_id is None
    lead_set: dict[str, Any] = {"queued": queued}
    if queued:
        lead_set["queued_since"] = e.reassigned_at
    else:
        lead_set["seller_id"] = e.to_seller_id
    return [
        _lead(
            e.lead_id, e.organisation_id, None, **{"$inc": {"reassignments": 1}, "$set": lead_set}
        ),
        upsert(
            SLA_BREACHES,
            env.id,
            {
                "$set": {
                    "organisation_id": e.organisation_id,
                    "kind": "reassigned",
                    "lead_id": e.lead_id,
                    "seller_id": e.from_seller_id,
                    "to_seller_id": e.to_seller_id,
                    "reason": e.reason,
                    "at": e.reassigned_at,
                }
            },
        ),
    ]


def lead_accepted(e: LeadAccepted, env: Envelope) -> list[Write]:
    return [
        _lead(
            e.lead_id,
            e.organisation_id,
            e.source,
            **{"$set": {"accepted_at": e.accepted_at, "seller_id": e.seller_id, "queued": False}},
        )
    ]


def lead_returned(e: LeadReturned, env: Envelope) -> list[Write]:
    return [
        _lead(
            e.lead_id,
            e.organisation_id,
            e.source,
            **{
                "$set": {
                    "returned_at": e.returned_at,
                    "return_reason": str(e.reason_code),
                    "seller_id": e.seller_id,
                    "queued": False,
                }
            },
        )
    ]


# ----------------------------------------------------------------------------- deals


def _deal(deal_id: str, org: str, **update: Any) -> Write:
    update.setdefault("$setOnInsert", {})["organisation_id"] = org
    return upsert(DEALS, deal_id, update)


def deal_opened(e: DealOpened, env: Envelope) -> list[Write]:
    writes = [
        _deal(
            e.deal_id,
            e.organisation_id,
            **{
                "$set": {
                    "lead_id": e.lead_id,
                    "customer_id": e.customer_id,
                    "seller_id": e.seller_id,
                    "company": e.prospect.company_name,
                    "opened_at": e.opened_at,
                    "stage": e.stage,
                },
                "$max": {"last_contact_at": e.opened_at},
            },
        ),
        _lead(e.lead_id, e.organisation_id, e.source, **{"$set": {"deal_id": e.deal_id}}),
    ]
    return writes


def contact_logged(e: ContactLogged, env: Envelope) -> list[Write]:
    return [
        _deal(
            e.deal_id,
            e.organisation_id,
            **{"$max": {"last_contact_at": e.contacted_at}, "$inc": {"contacts": 1}},
        )
    ]


def offer_sent(e: OfferSent, env: Envelope) -> list[Write]:
    # An offer by email is a touch on the buying path too (D5).
    return [
        _deal(
            e.deal_id,
            e.organisation_id,
            **{"$max": {"last_contact_at": e.sent_at}, "$inc": {"offers": 1}},
        )
    ]


def stage_changed(e: DealStageChanged, env: Envelope) -> list[Write]:
    return [
        _deal(
            e.deal_id,
            e.organisation_id,
            **{"$set": {"stage": e.to_stage}, "$max": {"stage_changed_at": e.changed_at}},
        )
    ]


def stale_reminder(e: StaleDealReminder, env: Envelope) -> list[Write]:
    return [
        _deal(
            e.deal_id,
            e.organisation_id,
            **{"$inc": {"stale_reminders": 1}, "$max": {"last_contact_at": e.last_contact_at}},
        )
    ]


def deal_lost(e: DealLost, env: Envelope) -> list[Write]:
    writes = [
        _deal(
            e.deal_id,
            e.organisation_id,
            **{"$set": {"lost_at": e.lost_at, "lost_reason": e.reason, "lead_id": e.lead_id}},
        ),
        _lead(e.lead_id, e.organisation_id, e.source, **{"$set": {"lost_at": e.lost_at}}),
    ]
    return writes


def deal_closed(e: DealClosed, env: Envelope) -> list[Write]:
    deal_set: dict[str, Any] = {
        "customer_id": e.customer_id,
        "seller_id": e.seller.seller_id,
        "company": e.customer.company_name,
        "total": str(e.summary.price.total.amount),
        "currency": e.summary.price.total.currency,
    }
    if e.lead_id:
        deal_set["lead_id"] = e.lead_id
    writes = [
        _deal(
            e.deal_id, e.organisation_id, **{"$set": deal_set, "$min": {"closed_at": e.closed_at}}
        ),
        _customer(e.customer_id, e.organisation_id, e.closed_at, e.seller.seller_id),
    ]
    if e.lead_id:
        writes.append(
            _lead(
                e.lead_id,
                e.organisation_id,
                e.source,
                **{"$set": {"closed_at": e.closed_at, "deal_id": e.deal_id}},
            )
        )
    return writes


def deal_amended(e: DealAmended, env: Envelope) -> list[Write]:
    return [
        _deal(
            e.deal_id,
            e.organisation_id,
            **{
                "$max": {"summary_version": e.summary_version},
                "$set": {"total": str(e.summary.price.total.amount)},
            },
        )
    ]


def referral(e: ReferralReceived, env: Envelope) -> list[Write]:
    return [
        upsert(
            REFERRALS,
            e.referral_id,
            {
                "$set": {
                    "organisation_id": e.organisation_id,
                    "seller_id": e.seller_id,
                    "received_at": e.received_at,
                }
            },
        )
    ]


# --------------------------------------------------------------------- confirmations


def confirmation_scheduled(e: ConfirmationScheduled, env: Envelope) -> list[Write]:
    return [
        _deal(
            e.deal_id,
            e.organisation_id,
            **{"$set": {"confirmation_send_at": e.send_at, "confirmation_policy": str(e.policy)}},
        )
    ]


def confirmation_sent(e: ConfirmationSent, env: Envelope) -> list[Write]:
    update: dict[str, Any] = {"$min": {"confirmed_at": e.sent_at}}
    if e.closed_at is not None:
        update["$min"]["closed_at"] = e.closed_at
    return [_deal(e.deal_id, e.organisation_id, **update)]


def confirmation_failed(e: ConfirmationFailed, env: Envelope) -> list[Write]:
    return [
        _deal(e.deal_id, e.organisation_id, **{"$max": {"confirmation_failed_at": e.failed_at}}),
        upsert(
            CONFIRMATION_FAILURES,
            env.id,
            {
                "$set": {
                    "organisation_id": e.organisation_id,
                    "deal_id": e.deal_id,
                    "seller_id": e.seller_id,
                    "version": e.version,
                    "reason": e.reason,
                    "permanent": e.permanent,
                    "attempts": e.attempts,
                    "failed_at": e.failed_at,
                }
            },
        ),
    ]


# ------------------------------------------------------------------------- customers


def delivery_completed(e: DeliveryCompleted, env: Envelope) -> list[Write]:
    return [
        _deal(e.deal_id, e.organisation_id, **{"$min": {"delivered_at": e.delivered_at}}),
        _customer(e.customer_id, e.organisation_id, e.delivered_at, None),
    ]


def next_contact_scheduled(e: NextContactScheduled, env: Envelope) -> list[Write]:
    writes: list[Write] = []
    kind = str(e.kind)
    if kind in REGULAR_KINDS:
        # The customer has one regular next contact: an older one still waiting is replaced.
        writes.append(
            (
                CONTACTS,
                UpdateMany(
                    {
                        "customer_id": e.customer_id,
                        "kind": {"$in": list(REGULAR_KINDS)},
                        "state": ContactState.SCHEDULED.value,
                        "_id": {"$ne": e.contact_id},
                        "scheduled_at": {"$lt": e.scheduled_at},
                    },
                    {"$set": {"state": ContactState.SUPERSEDED.value}},
                ),
            )
        )
    writes.append(
        _contact(
            e.contact_id,
            ContactState.SCHEDULED,
            {
                "organisation_id": e.organisation_id,
                "customer_id": e.customer_id,
                "seller_id": e.seller_id,
                "kind": kind,
                "due_at": e.due_at,
                "scheduled_at": e.scheduled_at,
                "defaulted": e.defaulted,
            },
        )
    )
    writes.append(_customer(e.customer_id, e.organisation_id, e.scheduled_at, e.seller_id))
    return writes


def contact_due(e: ContactDue, env: Envelope) -> list[Write]:
    fields: dict[str, Any] = {
        "organisation_id": e.organisation_id,
        "customer_id": e.customer_id,
        "seller_id": e.seller_id,
        "kind": str(e.kind),
        "due_at": e.due_at,
        "fired_at": e.fired_at,
        "lateness_seconds": e.lateness_seconds,
    }
    if e.campaign_id:
        fields["campaign_id"] = e.campaign_id
    return [
        _contact(e.contact_id, ContactState.DUE, fields),
        _customer(e.customer_id, e.organisation_id, e.fired_at, e.seller_id),
    ]


def customer_contact_logged(e: CustomerContactLogged, env: Envelope) -> list[Write]:
    writes: list[Write] = [
        upsert(
            CUSTOMERS,
            e.customer_id,
            {
                "$max": {"last_contact_at": e.contacted_at},
                "$min": {"first_seen_at": e.contacted_at},
                "$setOnInsert": {"organisation_id": e.organisation_id},
            },
        )
    ]
    if e.contact_id:
        writes.append(
            _contact(
                e.contact_id,
                ContactState.DONE,
                {
                    "organisation_id": e.organisation_id,
                    "customer_id": e.customer_id,
                    "done_at": e.contacted_at,
                },
            )
        )
    return writes


def feedback_call_completed(e: FeedbackCallCompleted, env: Envelope) -> list[Write]:
    key = e.deal_id or f"customer:{e.customer_id}"
    writes = [
        upsert(
            FEEDBACK_CALLS,
            key,
            {
                "$min": {"completed_at": e.completed_at},
                "$set": {
                    "organisation_id": e.organisation_id,
                    "customer_id": e.customer_id,
                    "seller_id": e.seller_id,
                    "delivery_ok": e.delivery_ok,
                },
            },
        )
    ]
    return writes


def problem_reported(e: ProblemReported, env: Envelope) -> list[Write]:
    return [
        upsert(
            PROBLEMS,
            e.problem_id,
            {
                "$set": {
                    "organisation_id": e.organisation_id,
                    "customer_id": e.customer_id,
                    "seller_id": e.seller_id,
                    "reported_at": e.reported_at,
                }
            },
        )
    ]


def problem_resolved(e: ProblemResolved, env: Envelope) -> list[Write]:
    return [
        upsert(
            PROBLEMS,
            e.problem_id,
            {"$set": {"organisation_id": e.organisation_id, "resolved_at": e.resolved_at}},
        )
    ]


def campaign_started(e: SegmentCampaignStarted, env: Envelope) -> list[Write]:
    return [
        upsert(
            CAMPAIGNS,
            e.campaign_id,
            {
                "$set": {
                    "organisation_id": e.organisation_id,
                    "reason": e.reason,
                    "matched_customers": e.matched_customers,
                    "started_at": e.started_at,
                }
            },
        )
    ]


def campaign_completed(e: SegmentCampaignCompleted, env: Envelope) -> list[Write]:
    return [
        upsert(
            CAMPAIGNS,
            e.campaign_id,
            {
                "$set": {
                    "organisation_id": e.organisation_id,
                    "contacts_created": e.contacts_created,
                    "completed_at": e.completed_at,
                }
            },
        )
    ]


# -------------------------------------------------------------------------- webhooks


def webhook_subscription_disabled(e: WebhookSubscriptionDisabled, env: Envelope) -> list[Write]:
    """An alert: the subscription stopped sending after failing too long (issue 19). One
    row per disabling (keyed by the event), so a redelivered event changes nothing."""
    return [
        upsert(
            WEBHOOK_ALERTS,
            env.id,
            {
                "$set": {
                    "organisation_id": e.organisation_id,
                    "subscription_id": e.subscription_id,
                    "url_host": e.url_host,
                    "failing_since": e.failing_since,
                    "disabled_at": e.disabled_at,
                    "reason": e.reason,
                }
            },
        )
    ]


PROJECTIONS: dict[type[Event], Projection] = {
    LeadQualified: lead_qualified,
    LeadRejected: lead_rejected,
    LeadLinkedAsDuplicate: lead_linked,
    LeadQueued: lead_queued,
    LeadAssigned: lead_assigned,
    HandoffReminderDue: handoff_reminder,
    LeadReassigned: lead_reassigned,
    LeadAccepted: lead_accepted,
    LeadReturned: lead_returned,
    DealOpened: deal_opened,
    ContactLogged: contact_logged,
    OfferSent: offer_sent,
    DealStageChanged: stage_changed,
    StaleDealReminder: stale_reminder,
    DealLost: deal_lost,
    DealClosed: deal_closed,
    DealAmended: deal_amended,
    ReferralReceived: referral,
    ConfirmationScheduled: confirmation_scheduled,
    ConfirmationSent: confirmation_sent,
    ConfirmationFailed: confirmation_failed,
    DeliveryCompleted: delivery_completed,
    NextContactScheduled: next_contact_scheduled,
    ContactDue: contact_due,
    CustomerContactLogged: customer_contact_logged,
    FeedbackCallCompleted: feedback_call_completed,
    ProblemReported: problem_reported,
    ProblemResolved: problem_resolved,
    SegmentCampaignStarted: campaign_started,
    SegmentCampaignCompleted: campaign_completed,
    CustomerErased: customer_erased,
    WebhookSubscriptionDisabled: webhook_subscription_disabled,
}


def project(env: Envelope, *, erased: bool = False) -> list[Write]:
    """The read-model writes one event causes; events the dashboard has no view of
    (sellers' raw inputs, CRM classifications) cause none. ``erased``: the event is of a
    customer erased before (see ``scrubbed``)."""
    projection = PROJECTIONS.get(type(env.event))
    if projection is None:
        return []
    return projection(scrubbed(env.event) if erased else env.event, env)
