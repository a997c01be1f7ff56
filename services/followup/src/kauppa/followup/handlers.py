"""Event and timer handlers: load the batch's customers once, ask the domain, write once,
emit through the outbox. Built per settings by ``followup_handlers``."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, time
from typing import Any, Protocol

from kauppa.contracts import Envelope
from kauppa.contracts.events.customers import (
    ContactDue,
    ContactKind,
    CustomerClassificationSubmitted,
    CustomerContactLogged,
    CustomerContactReported,
    DeliveryCompleted,
    FeedbackCallCompleted,
    NextContactScheduled,
    ProblemReported,
    ProblemResolved,
    SegmentCampaignCompleted,
    SegmentCampaignStarted,
)
from kauppa.contracts.events.deals import DealAmended, DealClosed, ReferralReceived
from kauppa.contracts.events.privacy import CustomerErased
from kauppa.followup import campaigns
from kauppa.followup.audit import AUDIT, run_audit_timer
from kauppa.followup.digest import note_sellers
from kauppa.followup.domain import identities as ids
from kauppa.followup.domain.calendar import feedback_call_due
from kauppa.followup.domain.invariant import schedule_fields
from kauppa.followup.domain.next_contact import decide_next_contact, repeat_reminder
from kauppa.followup.domain.talking_points import talking_points
from kauppa.followup.erasure import erase_customer, is_erased
from kauppa.followup.relationships import (
    CONTACT_DUE,
    apply_deal,
    call_context,
    new_customer,
    policy_of,
    set_next_contact,
    timezone_of,
)
from kauppa.followup.settings import FollowupSettings
from kauppa.followup.store import (
    CONTACTS,
    CUSTOMERS,
    REPORTS,
    BatchState,
    contact_document,
    existing_ids,
)
from kauppa.servicekit.emits import emits
from kauppa.servicekit.pipeline import Handlers
from kauppa.servicekit.timers import DueTimer, TimerHandler
from kauppa.servicekit.unit_of_work import UnitOfWork
from pymongo import UpdateOne

Document = dict[str, Any]


class ContactReportRefused(ValueError):
    """The report names a customer this service does not know."""


class AuditReporter(Protocol):
    def record_audit(self, violations: dict[str, int]) -> None: ...


# A reported contact: the contact itself, what it found, and the next contact (D15).
CONTACT_REPORT_EMITS = (
    CustomerContactLogged,
    FeedbackCallCompleted,
    ProblemReported,
    ProblemResolved,
    ReferralReceived,
    NextContactScheduled,
)
# The HTTP commands: contacts reported, campaigns started, an audit run on demand.
COMMAND_EMITS = (*CONTACT_REPORT_EMITS, SegmentCampaignStarted, SegmentCampaignCompleted)


def followup_handlers(
    settings: FollowupSettings, reporter: AuditReporter | None = None
) -> tuple[Handlers, dict[str, TimerHandler]]:
    policy = policy_of(settings)
    handlers = Handlers()

    @handlers.on_batch(DealClosed, emits=[NextContactScheduled])
    async def customer_from_deal(batch: list[Envelope], uow: UnitOfWork) -> None:
        """One relationship per customer; the first deal makes it active with a next
        contact (D15, D16), later deals add products and value."""
        state = BatchState(uow)
        await state.load(e.event.customer_id for e in batch)
        for env in batch:
            deal: DealClosed = env.event
            if is_erased(state.get(deal.customer_id)):
                continue  # erased: a late or replayed deal must not bring the data back
            customer = state.get(deal.customer_id) or new_customer(
                deal.customer_id, deal.organisation_id, uow.now
            )
            apply_deal(customer, deal)
            last = customer.get("last_contact_at")
            customer["last_contact_at"] = max(last, deal.closed_at) if last else deal.closed_at
            state.put(customer)
            if not customer["active"] or customer.get("next_contact") is None:
                customer["active"] = True
                decided = decide_next_contact(
                    None,
                    customer["last_contact_at"],
                    uow.now,
                    policy,
                    timezone_of(customer, settings),
                )
                scheduled = set_next_contact(
                    state,
                    customer,
                    decided,
                    contact_id=ids.next_contact_id(f"deal:{deal.deal_id}", deal.customer_id),
                    last_contact_at=customer["last_contact_at"],
                    policy=policy,
                )
                uow.emit(scheduled, cause=env)
        await state.flush()
        # The seller's card: who gets a daily digest, where and in which time zone.
        await note_sellers(
            uow, [(e.event.organisation_id, e.event.seller) for e in batch], settings
        )

    @handlers.on_batch(DealAmended)
    async def amend_deal(batch: list[Envelope], uow: UnitOfWork) -> None:
        state = BatchState(uow)
        await state.load(e.event.customer_id for e in batch)
        for env in batch:
            deal: DealAmended = env.event
            customer = state.get(deal.customer_id)
            if customer is None or is_erased(customer):
                continue  # its DealClosed creates the record; the amendment is in it already
            apply_deal(customer, deal)
            state.put(customer)
        await state.flush()

    @handlers.on_batch(DeliveryCompleted, emits=[NextContactScheduled])
    async def schedule_feedback_call(batch: list[Envelope], uow: UnitOfWork) -> None:
        """D13: a feedback call N business days after delivery, once per delivery."""
        state = BatchState(uow)
        await state.load(e.event.customer_id for e in batch)
        known = await existing_ids(
            uow, CONTACTS, [ids.feedback_contact_id(e.event.delivery_id) for e in batch]
        )
        for env in batch:
            delivery: DeliveryCompleted = env.event
            contact_id = ids.feedback_contact_id(delivery.delivery_id)
            if contact_id in known or is_erased(state.get(delivery.customer_id)):
                continue  # the same delivery reported again, or an erased customer
            known.add(contact_id)
            customer = state.get(delivery.customer_id) or new_customer(
                delivery.customer_id, delivery.organisation_id, uow.now
            )
            items = [f"{i.quantity.normalize()} x {i.product_code}" for i in delivery.items]
            customer["last_delivery"] = {
                "delivery_id": delivery.delivery_id,
                "deal_id": delivery.deal_id,
                "items": items,
                "delivered_at": delivery.delivered_at,
            }
            state.put(customer)
            due = feedback_call_due(
                delivery.delivered_at,
                settings.feedback_call_business_days,
                country=settings.holiday_country,
                hour=settings.contact_hour,
                timezone=timezone_of(customer, settings),
            )
            state.insert_contact(
                contact_document(
                    contact_id=contact_id,
                    customer=customer,
                    kind=ContactKind.FEEDBACK_CALL.value,
                    due_at=due,
                    scheduled_at=uow.now,
                    delivery_id=delivery.delivery_id,
                    deal_id=delivery.deal_id,
                )
            )
            uow.schedule(
                ids.contact_timer_key(contact_id),
                due,
                CONTACT_DUE,
                {
                    "contact_id": contact_id,
                    "customer_id": delivery.customer_id,
                    "kind": ContactKind.FEEDBACK_CALL.value,
                    "items": items,
                    "deal_id": delivery.deal_id,
                },
                replace=False,
            )
            uow.emit(
                NextContactScheduled(
                    customer_id=delivery.customer_id,
                    organisation_id=delivery.organisation_id,
                    seller_id=customer.get("seller_id") or "unassigned",
                    contact_id=contact_id,
                    kind=ContactKind.FEEDBACK_CALL,
                    due_at=due,
                    scheduled_at=uow.now,
                ),
                cause=env,
            )
        await state.flush()

    @handlers.on_batch(CustomerContactReported, emits=CONTACT_REPORT_EMITS)
    async def contact_reported(batch: list[Envelope], uow: UnitOfWork) -> None:
        state = BatchState(uow)
        await state.load(e.event.customer_id for e in batch)
        for env in batch:
            try:
                await record_contact(state, env.event, settings, cause=env)
            except ContactReportRefused:
                continue  # a report for an unknown customer: nothing to attach it to
        await state.flush()

    @handlers.on_batch(CustomerClassificationSubmitted)
    async def classify_customer(batch: list[Envelope], uow: UnitOfWork) -> None:
        """D17: classification attributes for segments."""
        state = BatchState(uow)
        await state.load(e.event.customer_id for e in batch)
        for env in batch:
            c: CustomerClassificationSubmitted = env.event
            if is_erased(state.get(c.customer_id)):
                continue
            customer = state.get(c.customer_id) or new_customer(
                c.customer_id, c.organisation_id, uow.now
            )
            set_attributes(customer, c.attributes.model_dump(mode="python"))
            state.put(customer)
        await state.flush()

    # Erasure cancels the customer's campaign contacts, which may complete a campaign.
    @handlers.on(CustomerErased, emits=[SegmentCampaignCompleted])
    async def erase(env: Envelope, uow: UnitOfWork) -> None:
        """GDPR erasure: scrub personal data, cancel contacts, keep the statistics."""
        await erase_customer(uow, env.event)

    @emits(ContactDue, SegmentCampaignCompleted)
    async def fire_contacts(timers: list[DueTimer], uow: UnitOfWork) -> None:
        await fire_contact_timers(timers, uow, settings)

    @emits(SegmentCampaignCompleted)
    async def campaign_step(timers: list[DueTimer], uow: UnitOfWork) -> None:
        for t in timers:
            await campaigns.run_step(uow, t.payload["campaign_id"], settings)

    @emits(NextContactScheduled)
    async def audit(timers: list[DueTimer], uow: UnitOfWork) -> None:
        result = await run_audit_timer(uow, settings)
        if reporter is not None:
            reporter.record_audit(result["violations"])

    return handlers, {CONTACT_DUE: fire_contacts, campaigns.STEP: campaign_step, AUDIT: audit}


def set_attributes(customer: Document, attributes: Document) -> None:
    since = attributes.get("customer_since")
    if since is not None:  # BSON has no date type
        attributes["customer_since"] = datetime.combine(since, time(0), tzinfo=UTC)
    customer["attributes"] = attributes
    owned = {p for d in customer["deals"].values() for p in d["products"]}
    customer["products_owned"] = sorted(owned | set(attributes.get("products_owned") or []))


async def record_contact(
    state: BatchState,
    report: CustomerContactReported,
    settings: FollowupSettings,
    *,
    cause: Envelope | None,
) -> Document:
    """A seller logged a contact (D13-D15): problems open, fixes close them, referrals go
    to the booking side, and the next contact is set, by the seller or by default."""
    uow, policy = state.uow, policy_of(settings)
    customer = state.get(report.customer_id)
    if customer is None or is_erased(customer):
        raise ContactReportRefused(report.customer_id)
    if await uow.db[REPORTS].find_one({"_id": report.report_id}, {"_id": 1}, session=uow.session):
        return {"report_id": report.report_id, "duplicate": True}
    org, seller = customer["organisation_id"], report.seller_id
    answered = None
    if report.contact_id:
        # Only a contact of this customer (and organisation) is answered: another's id
        # is as if none were given.
        answered = await uow.db[CONTACTS].find_one(
            {"_id": report.contact_id, "customer_id": customer["_id"], "organisation_id": org},
            session=uow.session,
        )
    kind = ContactKind(answered["kind"]) if answered else ContactKind.SCHEDULED
    if answered and answered["state"] in ("scheduled", "due"):
        if answered["state"] == "scheduled":
            uow.cancel(ids.contact_timer_key(answered["_id"]))
        state.update_contact(
            answered["_id"], answered["state"], {"state": "done", "report_id": report.report_id}
        )

    opened = []
    for i, description in enumerate(report.problems):
        pid = ids.problem_id(report.report_id, i)
        deal_id = (customer.get("last_delivery") or {}).get("deal_id")
        customer["open_problems"].append(
            {"problem_id": pid, "description": description, "reported_at": report.contacted_at}
        )
        opened.append(pid)
        uow.emit(
            ProblemReported(
                problem_id=pid,
                customer_id=customer["_id"],
                organisation_id=org,
                seller_id=seller,
                deal_id=deal_id,
                description=description,
                reported_at=report.contacted_at,
            ),
            cause=cause,
        )
    resolved = [
        p for p in customer["open_problems"] if p["problem_id"] in report.resolved_problem_ids
    ]
    customer["open_problems"] = [p for p in customer["open_problems"] if p not in resolved]
    for p in resolved:
        uow.emit(
            ProblemResolved(
                problem_id=p["problem_id"],
                customer_id=customer["_id"],
                organisation_id=org,
                resolution=report.notes,
                resolved_at=report.contacted_at,
            ),
            cause=cause,
        )
    for i, referral in enumerate(report.referrals):
        uow.emit(
            ReferralReceived(
                referral_id=ids.referral_id(report.report_id, i),
                organisation_id=org,
                seller_id=seller,
                referred_by_customer_id=customer["_id"],
                referral=referral,
                received_at=report.contacted_at,
            ),
            cause=cause,
        )
    if kind == ContactKind.FEEDBACK_CALL:
        uow.emit(
            FeedbackCallCompleted(
                customer_id=customer["_id"],
                organisation_id=org,
                seller_id=seller,
                deal_id=answered.get("deal_id") if answered else None,
                delivery_ok=report.delivery_ok
                if report.delivery_ok is not None
                else not report.problems,
                completed_at=report.contacted_at,
            ),
            cause=cause,
        )
    uow.emit(
        CustomerContactLogged(
            customer_id=customer["_id"],
            organisation_id=org,
            seller_id=seller,
            contact_id=report.contact_id,
            kind=kind,
            contacted_at=report.contacted_at,
            delivery_ok=report.delivery_ok,
            upsell_interest=report.upsell_interest,
            notes=report.notes,
        ),
        cause=cause,
    )
    last = customer.get("last_contact_at")
    customer["last_contact_at"] = max(last, report.contacted_at) if last else report.contacted_at
    customer["active"] = True
    decided = decide_next_contact(
        report.next_contact_on,
        customer["last_contact_at"],
        uow.now,
        policy,
        timezone_of(customer, settings),
    )
    scheduled = set_next_contact(
        state,
        customer,
        decided,
        contact_id=ids.next_contact_id(f"report:{report.report_id}", customer["_id"]),
        last_contact_at=customer["last_contact_at"],
        policy=policy,
    )
    uow.emit(scheduled, cause=cause)
    await uow.db[REPORTS].insert_one(
        {
            "_id": report.report_id,
            "customer_id": customer["_id"],
            "kind": kind.value,
            "at": uow.now,
            **report.model_dump(mode="python", exclude={"next_contact_on"}),
        },
        session=uow.session,
    )
    return {
        "report_id": report.report_id,
        "customer_id": customer["_id"],
        "problems_opened": opened,
        "problems_resolved": [p["problem_id"] for p in resolved],
        "next_contact": {
            "contact_id": scheduled.contact_id,
            "due_at": scheduled.due_at.isoformat(),
            "defaulted": scheduled.defaulted,
            "clamped": decided.clamped,
        },
    }


async def fire_contact_timers(
    timers: list[DueTimer], uow: UnitOfWork, settings: FollowupSettings
) -> None:
    """Due contacts become ``ContactDue`` with talking points (D13, D14). A fired regular
    contact leaves a repeat reminder as the customer's next contact (D15)."""
    policy = policy_of(settings)
    state = BatchState(uow)
    await state.load(t.payload["customer_id"] for t in timers)
    customer_ops: list[UpdateOne] = []
    fired_per_campaign: Counter[str] = Counter()
    cancelled_per_campaign: Counter[str] = Counter()
    for t in timers:
        p = t.payload
        customer = state.get(p["customer_id"])
        if customer is None or is_erased(customer):
            state.update_contact(p["contact_id"], "scheduled", {"state": "cancelled"})
            if p.get("campaign_id"):
                cancelled_per_campaign[p["campaign_id"]] += 1
            continue
        kind = ContactKind(p["kind"])
        points = talking_points(
            call_context(customer, kind, p), t.fired_at, settings.long_relationship_years
        )
        seller = customer.get("seller_id") or "unassigned"
        uow.emit(
            ContactDue(
                contact_id=p["contact_id"],
                customer_id=customer["_id"],
                organisation_id=customer["organisation_id"],
                seller_id=seller,
                kind=kind,
                due_at=t.due_at,
                fired_at=t.fired_at,
                lateness_seconds=t.lateness.total_seconds(),
                talking_points=points,
                campaign_id=p.get("campaign_id"),
                reason=p.get("reason"),
            )
        )
        state.update_contact(
            p["contact_id"],
            "scheduled",
            {
                "state": "due",
                "seller_id": seller,
                "fired_at": t.fired_at,
                "lateness_seconds": t.lateness.total_seconds(),
                "talking_points": [tp.model_dump() for tp in points],
            },
        )
        if p.get("campaign_id"):
            fired_per_campaign[p["campaign_id"]] += 1
        current = customer.get("next_contact")
        if current and current["contact_id"] == p["contact_id"] and customer.get("last_contact_at"):
            # Keep a next contact on record even if nobody logs this one (D15).
            repeat_id = ids.next_contact_id(f"repeat:{p['contact_id']}", customer["_id"])
            due = repeat_reminder(customer["last_contact_at"], t.fired_at, policy)
            state.add_contact(
                contact_document(
                    contact_id=repeat_id,
                    customer=customer,
                    kind=kind.value,
                    due_at=due,
                    scheduled_at=uow.now,
                    defaulted=True,
                )
            )
            uow.schedule(
                ids.contact_timer_key(repeat_id),
                due,
                CONTACT_DUE,
                {"contact_id": repeat_id, "customer_id": customer["_id"], "kind": kind.value},
                replace=False,
            )
            fields = schedule_fields(due, customer["last_contact_at"], policy)
            fields["next_contact"] = {
                "contact_id": repeat_id,
                "due_at": due,
                "kind": kind.value,
                "defaulted": True,
            }
            customer_ops.append(UpdateOne({"_id": customer["_id"]}, {"$set": fields}))
    await state.flush()
    if customer_ops:
        await uow.db[CUSTOMERS].bulk_write(customer_ops, ordered=False, session=uow.session)
    await campaigns.count_outcomes(uow, fired_per_campaign, cancelled_per_campaign)
