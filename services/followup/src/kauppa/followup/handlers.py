"""Event and timer handlers, and the service's one table of them (``EVENTS``, ``TIMERS``).

Each handler loads the batch's relationships once (``Relationships``), asks each
relationship's verb, hands what it caused to ``commands.settle`` (the repository keeps
the writes, the unit of work the events and timers) and saves once. ``Deps`` is what
they need beyond the unit of work, built in ``bootstrap.py``. No handler here has a
``prepare`` step (none had one before this table)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from kauppa.contracts import Envelope
from kauppa.contracts.events.customers import (
    ContactDue,
    CustomerClassificationSubmitted,
    CustomerContactReported,
    DeliveryCompleted,
    NextContactScheduled,
    SegmentCampaignCompleted,
)
from kauppa.contracts.events.deals import DealAmended, DealClosed
from kauppa.contracts.events.leads import LeadAccepted, LeadAssigned, LeadReassigned, LeadReturned
from kauppa.contracts.events.privacy import CustomerErased
from kauppa.followup import campaigns, commands
from kauppa.followup.audit import AUDIT, AuditGauge, run_audit_timer
from kauppa.followup.digest import DIGEST, DigestSender, note_leads, note_sellers
from kauppa.followup.domain import identities as ids
from kauppa.followup.domain.relationship import (
    CONTACT_DUE,
    ContactReportRefused,
    CustomerRelationship,
    RelationshipErased,
    RelationshipRules,
    cancel_contact,
    erased_before,
)
from kauppa.followup.erasure import erase_customer
from kauppa.followup.repository import Relationships
from kauppa.followup.settings import FollowupSettings
from kauppa.servicekit.routes import Every, On
from kauppa.servicekit.timers import DueTimer
from kauppa.servicekit.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Deps:
    settings: FollowupSettings
    rules: RelationshipRules
    digests: DigestSender
    audit: AuditGauge


async def customer_from_deal(batch: list[Envelope], uow: UnitOfWork, deps: Deps) -> None:
    """One relationship per customer; the first deal makes it active with a next contact
    (D15, D16), later deals add products and value."""
    relationships = uow.repository(Relationships)
    await relationships.load(e.event.customer_id for e in batch)
    for env in batch:
        deal: DealClosed = env.event
        relationship = relationships.get(deal.customer_id)
        if erased_before(relationship):
            continue  # a late or replayed deal must not bring the data back
        relationship = relationship or CustomerRelationship.new(
            deal.customer_id, deal.organisation_id, uow.now
        )
        caused = relationship.start_after_close(deal, uow.now, deps.rules)
        commands.settle(uow, relationship, caused, cause=env)
    await relationships.save()
    # The seller's card: who gets a daily digest, where and in which time zone.
    await note_sellers(
        uow, [(e.event.organisation_id, e.event.seller) for e in batch], deps.settings
    )


async def amend_deal(batch: list[Envelope], uow: UnitOfWork, deps: Deps) -> None:
    relationships = uow.repository(Relationships)
    await relationships.load(e.event.customer_id for e in batch)
    for env in batch:
        deal: DealAmended = env.event
        relationship = relationships.get(deal.customer_id)
        if relationship is None or relationship.erased:
            continue  # its DealClosed creates the record; the amendment is in it already
        relationship.amend(deal)
        relationships.put(relationship)
    await relationships.save()


async def schedule_feedback_call(batch: list[Envelope], uow: UnitOfWork, deps: Deps) -> None:
    """D13: a feedback call N business days after delivery, once per delivery."""
    relationships = uow.repository(Relationships)
    await relationships.load(e.event.customer_id for e in batch)
    known = await relationships.known_contacts(
        ids.feedback_contact_id(e.event.delivery_id) for e in batch
    )
    for env in batch:
        delivery: DeliveryCompleted = env.event
        contact_id = ids.feedback_contact_id(delivery.delivery_id)
        relationship = relationships.get(delivery.customer_id)
        if contact_id in known or erased_before(relationship):
            continue  # the same delivery reported again, or an erased customer
        known.add(contact_id)
        relationship = relationship or CustomerRelationship.new(
            delivery.customer_id, delivery.organisation_id, uow.now
        )
        caused = relationship.delivery_completed(delivery, uow.now, deps.rules)
        commands.settle(uow, relationship, caused, cause=env)
    await relationships.save()


async def contact_reported(batch: list[Envelope], uow: UnitOfWork, deps: Deps) -> None:
    """A seller's tool reported a contact: the same as ``POST /customers/{id}/contacts``."""
    relationships = uow.repository(Relationships)
    await relationships.load(e.event.customer_id for e in batch)
    for env in batch:
        report: CustomerContactReported = env.event
        try:
            await commands.log_contact(uow, report, deps.rules, cause=env)
        except ContactReportRefused:
            continue  # a report for an unknown customer: nothing to attach it to
    await relationships.save()


async def classify_customer(batch: list[Envelope], uow: UnitOfWork, deps: Deps) -> None:
    """D17: classification attributes for segments."""
    relationships = uow.repository(Relationships)
    await relationships.load(e.event.customer_id for e in batch)
    for env in batch:
        c: CustomerClassificationSubmitted = env.event
        try:
            await commands.classify(
                uow, c.customer_id, c.organisation_id, c.attributes.model_dump(mode="python")
            )
        except RelationshipErased:
            continue
    await relationships.save()


async def erase(env: Envelope, uow: UnitOfWork, deps: Deps) -> None:
    """GDPR erasure: scrub personal data, cancel contacts, keep the statistics."""
    await erase_customer(uow, env.event)


async def fire_contacts(timers: list[DueTimer], uow: UnitOfWork, deps: Deps) -> None:
    """Due contacts become ``ContactDue`` with talking points (D13, D14); a contact of a
    customer gone or erased is cancelled. Campaign contacts count towards completion."""
    relationships = uow.repository(Relationships)
    await relationships.load(t.payload["customer_id"] for t in timers)
    fired: Counter[str] = Counter()
    cancelled: Counter[str] = Counter()
    for t in timers:
        p = t.payload
        relationship = relationships.get(p["customer_id"])
        if relationship is None or relationship.erased:
            relationships.update_contact(cancel_contact(p["contact_id"]))
            if p.get("campaign_id"):
                cancelled[p["campaign_id"]] += 1
            continue
        caused = relationship.contact_due(
            p,
            due_at=t.due_at,
            fired_at=t.fired_at,
            lateness_seconds=t.lateness.total_seconds(),
            now=uow.now,
            rules=deps.rules,
        )
        if caused.contacts:  # a repeat reminder became the next contact
            relationships.put(relationship)
        relationships.record(caused)
        uow.carry_out(caused)
        if p.get("campaign_id"):
            fired[p["campaign_id"]] += 1
    await relationships.save()
    await campaigns.count_outcomes(uow, fired, cancelled)


async def campaign_step(timers: list[DueTimer], uow: UnitOfWork, deps: Deps) -> None:
    for t in timers:
        await campaigns.run_step(uow, t.payload["campaign_id"], deps.settings)


async def audit(timers: list[DueTimer], uow: UnitOfWork, deps: Deps) -> None:
    """The periodic invariant audit (D15/D16): repair, re-arm, publish the counts."""
    result = await run_audit_timer(uow, deps.settings)
    deps.audit.record(result["violations"])


async def send_digests(timers: list[DueTimer], uow: UnitOfWork, deps: Deps) -> None:
    """The sellers' daily digests due now (see ``digest.py``)."""
    await deps.digests.fire(timers, uow)


EVENTS = [
    On(DealClosed, customer_from_deal, emits=[NextContactScheduled]),
    On(DealAmended, amend_deal),
    On(DeliveryCompleted, schedule_feedback_call, emits=[NextContactScheduled]),
    On(CustomerContactReported, contact_reported, emits=commands.CONTACT_REPORT_EMITS),
    On(CustomerClassificationSubmitted, classify_customer),
    # Erasure cancels the customer's campaign contacts, which may complete a campaign.
    On(CustomerErased, erase, emits=[SegmentCampaignCompleted], one=True),
    # Leads waiting for their seller's verdict, for the digest: one handler for the four
    # types, so a run of them is one batch (in order per lead).
    On(LeadAssigned, note_leads),
    On(LeadAccepted, note_leads),
    On(LeadReturned, note_leads),
    On(LeadReassigned, note_leads),
]

TIMERS = [
    Every(CONTACT_DUE, fire_contacts, emits=[ContactDue, SegmentCampaignCompleted]),
    Every(campaigns.STEP, campaign_step, emits=[SegmentCampaignCompleted]),
    Every(AUDIT, audit, emits=[NextContactScheduled]),
    Every(DIGEST, send_digests),
]
