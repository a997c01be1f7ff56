"""Event and timer handlers: load, ask the domain, write, emit. All writes go through the
unit of work (one transaction per batch with the inbox, timers and outbox)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kauppa.contracts import (
    Criterion,
    CustomerErased,
    DealClosed,
    DealLost,
    DealOpened,
    Envelope,
    HandoffReminderDue,
    LeadAccepted,
    LeadAssigned,
    LeadLinkedAsDuplicate,
    LeadQualified,
    LeadQueued,
    LeadReassigned,
    LeadRejected,
    LeadReturned,
    LeadVerdictSubmitted,
)
from kauppa.contracts.identity import normalise_business_id, normalise_email
from kauppa.handoff.desk import (
    ROSTER_CHANGED,
    SLA_REASSIGN,
    SLA_REMINDER,
    HandoffDesk,
    profile_of,
    save_leads,
)
from kauppa.handoff.domain.gate import check_lead
from kauppa.handoff.domain.identity import ProspectIdentity, identity_of
from kauppa.handoff.domain.routing import LeadProfile
from kauppa.handoff.domain.sla import SlaPolicy
from kauppa.handoff.domain.verdicts import LeadStatus, VerdictRefused, judge_verdict
from kauppa.handoff.repository import ERASURES, LEADS, Roster, identity_doc, identity_from
from kauppa.servicekit.emits import emits
from kauppa.servicekit.http import cached_replies_update
from kauppa.servicekit.logging import get_logger
from kauppa.servicekit.pipeline import Handlers
from kauppa.servicekit.timers import DueTimer, TimerHandler
from kauppa.servicekit.unit_of_work import IDEMPOTENCY, Emission, Preparation, UnitOfWork
from pymongo import UpdateMany, UpdateOne

Document = dict[str, Any]
log = get_logger(__name__)


def new_lead_document(
    lead: LeadQualified, env: Envelope, identity: ProspectIdentity, now: datetime
) -> Document:
    return {
        "_id": lead.lead_id,
        "organisation_id": lead.organisation_id,
        "event_id": env.id,
        "source": lead.source.model_dump(mode="json"),
        "prospect": lead.prospect.model_dump(mode="json"),
        "criteria": lead.criteria.model_dump(mode="json"),
        "product_interest": list(lead.product_interest),
        "qualified_at": lead.qualified_at,
        "received_at": now,
        "identity": identity_doc(identity),
        "open": False,
        "reminders": 0,
        "reassignments": 0,
    }


@dataclass(frozen=True)
class LeadPlan:
    """What a lead's intake needs that follows from the event alone, worked out while the
    batch before commits (``prepare_lead``): the prospect's identity, the lead's document
    as received, its routing profile (normalised), and for a lead the D1 gate refuses,
    the rejection wrapped and encoded."""

    identity: ProspectIdentity
    doc: Document
    profile: LeadProfile
    rejection: Emission | None


def prepare_lead(env: Envelope, prep: Preparation) -> LeadPlan:
    lead = env.event
    assert isinstance(lead, LeadQualified)
    decision = check_lead(lead)
    identity = identity_of(lead.prospect)
    doc = new_lead_document(lead, env, identity, prep.now)
    rejection = None
    if not decision.passes:
        doc.update(
            status=LeadStatus.REJECTED,
            unmet_criteria=[c.value for c in decision.unmet_criteria],
            problems=decision.problems,
        )
        rejection = prep.emit(
            LeadRejected(
                lead_id=lead.lead_id,
                organisation_id=lead.organisation_id,
                source=lead.source,
                unmet_criteria=decision.unmet_criteria,
                problems=decision.problems,
                rejected_at=prep.now,
            ),
            cause=env,
        )
    profile = profile_of(doc)
    _ = profile.keys  # normalised here, not inside the transaction
    return LeadPlan(identity, doc, profile, rejection)


class OpenHandoffs:
    """Open handoffs that may be the same prospect as the batch's leads, indexed by each
    identity key so matching a batch costs dictionary lookups, not a scan."""

    def __init__(self, docs: list[Document]) -> None:
        self.by_key: dict[tuple[str, str, str, bool], list[str]] = {}
        for d in docs:
            self.add(d["organisation_id"], identity_from(d), d["_id"])

    @classmethod
    async def load(
        cls, uow: UnitOfWork, candidates: list[tuple[str, ProspectIdentity]]
    ) -> OpenHandoffs:
        ors: list[Document] = []
        for org in sorted({o for o, _ in candidates}):
            mine = [i for o, i in candidates if o == org]
            bids = sorted({i.business_id for i in mine if i.business_id})
            if bids:
                ors.append({"organisation_id": org, "identity.business_id": {"$in": bids}})
            for field in ("email", "domain"):
                # Two leads that both carry a business id are compared on it alone, so a
                # lead with one only looks for open handoffs without one.
                anyone = sorted({v for i in mine if not i.business_id and (v := getattr(i, field))})
                without_bid = sorted(
                    {v for i in mine if i.business_id and (v := getattr(i, field))}
                )
                if anyone:
                    ors.append({"organisation_id": org, f"identity.{field}": {"$in": anyone}})
                if without_bid:
                    ors.append(
                        {
                            "organisation_id": org,
                            f"identity.{field}": {"$in": without_bid},
                            "identity.business_id": None,
                        }
                    )
        if not ors:
            return cls([])
        docs = (
            await uow.db[LEADS]
            .find(
                {"open": True, "$or": ors},
                {"organisation_id": 1, "identity": 1},
                session=uow.session,
            )
            .to_list()
        )
        return cls(docs)

    def match(self, org: str, identity: ProspectIdentity) -> tuple[str, str] | None:
        """The open handoff this prospect already has, and what matched (see
        ``same_prospect``: business id first; email, then domain, when either lacks one)."""
        if identity.business_id:
            found = self.by_key.get((org, "business_id", identity.business_id, True))
            if found:
                return found[0], "business_id"
        for field in ("email", "domain"):
            value = getattr(identity, field)
            if not value:
                continue
            found = self.by_key.get((org, field, value, False))
            if not found and not identity.business_id:
                found = self.by_key.get((org, field, value, True))
            if found:
                return found[0], field
        return None

    def add(self, org: str, identity: ProspectIdentity, lead_id: str) -> None:
        has_bid = identity.business_id is not None
        for field in ("business_id", "email", "domain"):
            value = getattr(identity, field)
            if value:
                self.by_key.setdefault((org, field, value, has_bid), []).append(lead_id)


# A verdict (by event or HTTP) accepts or returns the lead; the seller's freed capacity
# may assign a queued lead.
VERDICT_EMITS = (LeadAccepted, LeadReturned, LeadAssigned, LeadQueued)
# The HTTP commands: verdicts, and roster changes that assign queued leads.
COMMAND_EMITS = VERDICT_EMITS


def build_handlers(policy: SlaPolicy) -> tuple[Handlers, dict[str, TimerHandler]]:
    """The service's event handlers and timer handlers, bound to its SLA policy."""
    if policy.calendar is not None:
        policy.calendar.warm(datetime.now(UTC).date())
    handlers = Handlers()

    @handlers.on_batch(
        LeadQualified,
        prepare=prepare_lead,
        emits=[LeadRejected, LeadLinkedAsDuplicate, LeadAssigned, LeadQueued],
    )
    async def hand_off_leads(batch: list[Envelope], uow: UnitOfWork) -> None:
        """D1 gate, duplicates, routing, assignment: a whole batch in a few round trips."""
        db, session = uow.db, uow.session
        leads: list[tuple[Envelope, LeadQualified]] = [
            (env, env.event) for env in batch if isinstance(env.event, LeadQualified)
        ]
        ids = [lead.lead_id for _, lead in leads]
        existing = db[LEADS].find({"_id": {"$in": ids}}, {"_id": 1}, session=session)
        known = {d["_id"] async for d in existing}
        orgs = {lead.organisation_id for _, lead in leads}
        roster = await Roster.load(db, session, orgs)
        desk = HandoffDesk(uow, roster, policy, cause=batch[0])
        # Leads already waiting go first: a newcomer must not jump the queue.
        waiting = await db[LEADS].distinct(
            "organisation_id",
            {"organisation_id": {"$in": sorted(orgs)}, "status": LeadStatus.QUEUED},
            session=session,
        )
        if waiting:
            await desk.drain_queue(waiting)

        plans: list[LeadPlan] = [uow.plan(env) for env, _ in leads]
        open_handoffs = await OpenHandoffs.load(
            uow,
            [
                (lead.organisation_id, plan.identity)
                for (_, lead), plan in zip(leads, plans, strict=True)
                if plan.rejection is None and lead.lead_id not in known
            ],
        )
        fresh: list[Document] = []
        routed = 0  # the order of leads routed at this instant (for the what-if replay)
        for (env, lead), plan in zip(leads, plans, strict=True):
            if lead.lead_id in known:
                # The same lead again under a new event id: it already had its effect.
                log.info("lead_already_known", lead_id=lead.lead_id, event_id=env.id)
                continue
            known.add(lead.lead_id)
            desk.cause = env
            identity = plan.identity
            # A copy: the plan is reused should the transaction run again.
            doc = dict(plan.doc)
            if plan.rejection is not None:
                uow.emit_prepared(plan.rejection)
            elif found := open_handoffs.match(lead.organisation_id, identity):
                primary, matched_on = found
                doc.update(status=LeadStatus.LINKED, linked_to=primary, matched_on=matched_on)
                uow.emit(
                    LeadLinkedAsDuplicate(
                        lead_id=lead.lead_id,
                        organisation_id=lead.organisation_id,
                        source=lead.source,
                        linked_to_lead_id=primary,
                        matched_on=matched_on,
                        linked_at=uow.now,
                    ),
                    cause=env,
                )
            else:
                doc.update(routed_at=uow.now, routed_n=routed)
                routed += 1
                desk.assign_or_queue(doc, lead=lead, profile=plan.profile)
                open_handoffs.add(lead.organisation_id, identity, lead.lead_id)
            fresh.append(doc)
        if fresh:
            await db[LEADS].insert_many(fresh, ordered=False, session=session)
        await roster.save(db, session)

    @handlers.on(LeadVerdictSubmitted, emits=VERDICT_EMITS)
    async def take_verdict(env: Envelope, uow: UnitOfWork) -> None:
        """D3: a verdict from the sellers' tools (the HTTP API takes the same path)."""
        event = env.event
        assert isinstance(event, LeadVerdictSubmitted)
        outcome = await submit_verdict(
            uow,
            policy,
            lead_id=event.lead_id,
            seller_id=event.seller_id,
            verdict=event.verdict,
            reason_code=event.reason_code,
            reason_text=event.reason_text,
            cause=env,
        )
        if isinstance(outcome, VerdictRefused):
            log.warning("verdict_refused", lead_id=event.lead_id, reason=outcome.reason)

    async def record_deal_outcome(batch: list[Envelope], uow: UnitOfWork) -> None:
        """D4: a deal won or lost later, credited to the lead and any lead linked to it."""
        ops = []
        for env in batch:
            event = env.event
            if isinstance(event, DealClosed) and event.lead_id:
                lead_id = event.lead_id
                fields = {
                    "closed_at": event.closed_at,
                    "deal_id": event.deal_id,
                    "customer_id": event.customer_id,
                }
            elif isinstance(event, DealLost):
                lead_id = event.lead_id
                fields = {"lost_at": event.lost_at, "deal_id": event.deal_id}
            else:
                continue
            ops.append(
                UpdateMany(
                    {"$or": [{"_id": lead_id}, {"linked_to": lead_id}]},
                    {"$set": {**fields, "open": False}},
                )
            )
        if ops:
            await uow.db[LEADS].bulk_write(ops, ordered=True, session=uow.session)
        await erase_if_tombstoned(batch, uow)

    handlers.on_batch(DealClosed)(record_deal_outcome)
    handlers.on_batch(DealLost)(record_deal_outcome)

    @handlers.on_batch(DealOpened)
    async def record_customer(batch: list[Envelope], uow: UnitOfWork) -> None:
        """The customer id closing gave the lead's company, so an erasure by customer id
        finds the lead (a close copies it to linked leads, with the outcome)."""
        ops = [
            UpdateOne({"_id": env.event.lead_id}, {"$set": {"customer_id": env.event.customer_id}})
            for env in batch
            if isinstance(env.event, DealOpened)
        ]
        if ops:
            await uow.db[LEADS].bulk_write(ops, ordered=False, session=uow.session)
        await erase_if_tombstoned(batch, uow)

    async def erase_if_tombstoned(batch: list[Envelope], uow: UnitOfWork) -> None:
        """Leads just linked to a customer erased before (see the tombstone in
        ``erase_customer``) lose the person's data now."""
        linked = {
            f"{e.organisation_id}|{e.customer_id}": e
            for env in batch
            if isinstance(e := env.event, DealOpened | DealClosed) and e.lead_id
        }
        if not linked:
            return
        async for tomb in uow.db[ERASURES].find(
            {"_id": {"$in": sorted(linked)}}, session=uow.session
        ):
            e = linked[tomb["_id"]]
            await uow.db[LEADS].update_many(
                {
                    "$or": [{"_id": e.lead_id}, {"linked_to": e.lead_id}],
                    "organisation_id": e.organisation_id,
                    "erased_at": None,
                },
                {
                    "$set": {**ERASED_FIELDS, "erased_at": tomb["at"]},
                    "$unset": {"return_text": ""},
                },
                session=uow.session,
            )

    @handlers.on_batch(CustomerErased)
    async def erase_customer(batch: list[Envelope], uow: UnitOfWork) -> None:
        """GDPR erasure: the contact person's data goes from every lead about that
        customer; ids, source, statuses, dates and counts stay (statistics stay true)."""
        for env in batch:
            event = env.event
            if isinstance(event, CustomerErased) and event.customer_id:
                # The tombstone: a lead linked to this customer later (a DealOpened or
                # DealClosed processed after the erasure) is erased when linked.
                await uow.db[ERASURES].update_one(
                    {"_id": f"{event.organisation_id}|{event.customer_id}"},
                    {"$setOnInsert": {"at": event.erased_at}},
                    upsert=True,
                    session=uow.session,
                )
            if not isinstance(event, CustomerErased) or not (query := erasure_query(event)):
                continue
            ids = [
                d["_id"] async for d in uow.db[LEADS].find(query, {"_id": 1}, session=uow.session)
            ]
            if not ids:
                continue
            await uow.db[LEADS].update_many(
                {"_id": {"$in": ids}}, erasure_update(event), session=uow.session
            )
            # The kit's Idempotency-Key cache holds verdict answers (the lead as shown).
            await uow.db[IDEMPOTENCY].bulk_write(
                [cached_replies_update({"lead_id": {"$in": ids}}, ERASED_IN_VIEW)],
                session=uow.session,
            )

    @emits(HandoffReminderDue)
    async def remind_seller(timers: list[DueTimer], uow: UnitOfWork) -> None:
        """X hours without a verdict: remind the seller (counted on the lead)."""
        docs = await _current_assignments(uow, timers)
        reminded = []
        for timer in timers:
            doc = docs.get(timer.payload["lead_id"])
            if doc is None or doc.get("attempt") != timer.payload["attempt"]:
                continue
            reminded.append(doc)
            HandoffDesk(uow, Roster([]), policy).arm_reassignment(doc)
            doc["reminders"] = int(doc.get("reminders", 0)) + 1
            uow.emit(
                HandoffReminderDue(
                    lead_id=doc["_id"],
                    organisation_id=doc["organisation_id"],
                    seller_id=doc["seller_id"],
                    assigned_at=doc["assigned_at"],
                    respond_by=doc["respond_by"],
                    reminded_at=uow.now,
                )
            )
        await save_leads(uow, reminded)

    @emits(LeadReassigned, LeadAssigned, LeadQueued)
    async def reassign_lead(timers: list[DueTimer], uow: UnitOfWork) -> None:
        """Y hours without a verdict: the next eligible seller gets the lead."""
        docs = await _current_assignments(uow, timers)
        orgs = {d["organisation_id"] for d in docs.values()}
        roster = await Roster.load(uow.db, uow.session, orgs)
        desk = HandoffDesk(uow, roster, policy)
        changed = []
        for timer in timers:
            doc = docs.get(timer.payload["lead_id"])
            if doc is None or doc.get("attempt") != timer.payload["attempt"]:
                continue
            desk.reassign_after_sla(doc)
            changed.append(doc)
        await save_leads(uow, changed)
        await roster.save(uow.db, uow.session)

    @emits(LeadAssigned, LeadQueued)
    async def roster_changed(timers: list[DueTimer], uow: UnitOfWork) -> None:
        """A seller's absence ended: queued leads may have a seller now."""
        orgs = {t.payload["organisation_id"] for t in timers}
        roster = await Roster.load(uow.db, uow.session, orgs)
        await HandoffDesk(uow, roster, policy).drain_queue(orgs)
        await roster.save(uow.db, uow.session)

    timer_handlers: dict[str, TimerHandler] = {
        SLA_REMINDER: remind_seller,
        SLA_REASSIGN: reassign_lead,
        ROSTER_CHANGED: roster_changed,
    }
    return handlers, timer_handlers


# What erasure removes from a lead: the contact person (name, title, email, phone), the
# normalised email kept for duplicate detection, and free text that may name the person
# (discovery evidence in the booker's words, the seller's return text).
ERASED_FIELDS: Document = {
    "prospect.contact": None,
    "identity.email": None,
    **{f"criteria.{c}.evidence": None for c in Criterion},
}


# The same, in a lead as the API shows it (``lead_view``).
ERASED_IN_VIEW: Document = {"prospect.contact": None, "return_text": None}


def erasure_query(event: CustomerErased) -> Document | None:
    """Leads of the organisation about this customer, not yet erased: by the customer id
    closing gave the lead, by business id, by contact email (both normalised as the
    duplicate check does). None when the event names no key at all."""
    keys: list[Document] = [{"customer_id": event.customer_id}] if event.customer_id else []
    if business_id := normalise_business_id(event.business_id):
        keys.append({"identity.business_id": business_id})
    if email := normalise_email(event.email):
        keys.append({"identity.email": email})
    if not keys:
        return None
    return {"organisation_id": event.organisation_id, "erased_at": None, "$or": keys}


def erasure_update(event: CustomerErased) -> Document:
    return {
        "$set": {**ERASED_FIELDS, "erased_at": event.erased_at},
        "$unset": {"return_text": ""},
    }


async def _current_assignments(uow: UnitOfWork, timers: list[DueTimer]) -> dict[str, Document]:
    """The leads these SLA timers are about, still awaiting a verdict."""
    ids = sorted({t.payload["lead_id"] for t in timers})
    docs = (
        await uow.db[LEADS]
        .find({"_id": {"$in": ids}, "status": LeadStatus.ASSIGNED}, session=uow.session)
        .to_list()
    )
    return {d["_id"]: d for d in docs}


async def submit_verdict(
    uow: UnitOfWork,
    policy: SlaPolicy,
    *,
    lead_id: str,
    seller_id: str,
    verdict: Any,
    reason_code: Any,
    reason_text: str | None,
    cause: Envelope | None,
    organisation_id: str | None = None,
) -> Document | VerdictRefused:
    """Judge and record a seller's verdict; frees the seller's capacity and lets the
    queue move. Returns the lead as stored, or why the verdict was refused. With an
    ``organisation_id``, a lead of another organisation is an unknown lead."""
    db, session = uow.db, uow.session
    doc = await db[LEADS].find_one({"_id": lead_id}, session=session)
    if doc is not None and organisation_id and doc["organisation_id"] != organisation_id:
        doc = None
    judged = judge_verdict(
        status=doc.get("status") if doc else None,
        assigned_seller=doc.get("seller_id") if doc else None,
        seller_id=seller_id,
        verdict=verdict,
        reason_code=reason_code,
        reason_text=reason_text,
    )
    if isinstance(judged, VerdictRefused):
        return judged
    assert doc is not None
    roster = await Roster.load(db, session, [doc["organisation_id"]])
    desk = HandoffDesk(uow, roster, policy, cause=cause)
    credit = desk.record_verdict(doc, seller_id, judged)
    await save_leads(uow, [doc])
    await db[LEADS].update_many({"linked_to": lead_id}, {"$set": credit}, session=session)
    await desk.drain_queue([doc["organisation_id"]])
    await roster.save(db, session)
    return doc
