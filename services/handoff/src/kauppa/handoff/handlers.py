"""The handoff's event and timer handlers, and the one table of which handles what
(``EVENTS``, ``TIMERS``). Each loads through the repository, asks the ``Lead`` (or the
desk) and saves; what the verbs cause is emitted and scheduled with the unit of work (one
transaction per batch with the inbox, timers and outbox)."""

from __future__ import annotations

from dataclasses import dataclass

from kauppa.contracts import (
    CustomerErased,
    DealClosed,
    DealLost,
    DealOpened,
    Envelope,
    HandoffReminderDue,
    LeadAssigned,
    LeadLinkedAsDuplicate,
    LeadQualified,
    LeadQueued,
    LeadReassigned,
    LeadRejected,
    LeadVerdictSubmitted,
)
from kauppa.handoff.commands import VERDICT_EMITS, drain_queue, move_queue, take_verdict
from kauppa.handoff.domain.gate import check_lead
from kauppa.handoff.domain.identity import ProspectIdentity, identity_of
from kauppa.handoff.domain.lead import (
    ROSTER_CHANGED,
    SLA_REASSIGN,
    SLA_REMINDER,
    Desk,
    Lead,
    State,
    deal_outcome,
)
from kauppa.handoff.domain.routing import LeadProfile
from kauppa.handoff.domain.sla import SlaPolicy
from kauppa.handoff.domain.verdicts import VerdictRefused
from kauppa.handoff.erasure import erase_customer, erase_if_tombstoned
from kauppa.handoff.repository import HandoffRepository
from kauppa.servicekit.logging import get_logger
from kauppa.servicekit.routes import Every, On
from kauppa.servicekit.timers import DueTimer
from kauppa.servicekit.unit_of_work import Effects, Emission, Preparation, UnitOfWork

log = get_logger(__name__)


@dataclass(frozen=True)
class Deps:
    """What the handlers need beyond the unit of work (built in ``bootstrap``)."""

    policy: SlaPolicy


# ---------------------------------------------------------------------- intake


@dataclass(frozen=True)
class LeadPlan:
    """What a lead's intake needs that follows from the event alone, worked out while the
    batch before commits (``plan_lead``): the prospect's identity, the lead's fields as
    received, its routing profile (normalised), and for a lead the D1 gate refuses,
    the rejection wrapped and encoded."""

    identity: ProspectIdentity
    state: State
    profile: LeadProfile
    rejection: Emission | None

    def lead(self, qualified: LeadQualified) -> Lead:
        # A copy: the plan is reused should the transaction run again.
        return Lead(dict(self.state), qualified)


def plan_lead(env: Envelope, prep: Preparation, _deps: Deps) -> LeadPlan:
    event = env.event
    assert isinstance(event, LeadQualified)
    identity = identity_of(event.prospect)
    lead = Lead.received(event, env.id, identity, prep.now)
    decision = check_lead(event)
    rejection = None
    if not decision.passes:
        rejection = prep.emit(lead.reject_at_gate(decision, prep.now), cause=env)
    profile = lead.profile
    _ = profile.keys  # normalised here, not inside the transaction
    return LeadPlan(identity, lead.state, profile, rejection)


async def hand_off_leads(batch: list[Envelope], uow: UnitOfWork, deps: Deps) -> None:
    """D1 gate, duplicates, routing, assignment: a whole batch in a few round trips."""
    repo = uow.repository(HandoffRepository)
    leads = [(env, env.event) for env in batch if isinstance(env.event, LeadQualified)]
    known = await repo.known_lead_ids([lead.lead_id for _, lead in leads])
    orgs = {lead.organisation_id for _, lead in leads}
    roster = await repo.roster(orgs)
    desk = Desk(roster, deps.policy, uow.now)
    # Leads already waiting go first: a newcomer must not jump the queue.
    waiting = await repo.organisations_with_queue(orgs)
    if waiting:
        await drain_queue(uow, desk, waiting, cause=batch[0])

    plans: list[LeadPlan] = [uow.plan(env) for env, _ in leads]
    open_handoffs = await repo.open_handoffs(
        [
            (event.organisation_id, plan.identity)
            for (_, event), plan in zip(leads, plans, strict=True)
            if plan.rejection is None and event.lead_id not in known
        ]
    )
    fresh: list[Lead] = []
    routed = 0  # the order of leads routed at this instant (for the what-if replay)
    for (env, event), plan in zip(leads, plans, strict=True):
        if event.lead_id in known:
            # The same lead again under a new event id: it already had its effect.
            log.info("lead_already_known", lead_id=event.lead_id, event_id=env.id)
            continue
        known.add(event.lead_id)
        lead = plan.lead(event)
        if plan.rejection is not None:
            uow.emit_prepared(plan.rejection)
            effects = Effects()
        elif found := open_handoffs.match(event.organisation_id, plan.identity):
            effects = lead.link_as_duplicate(*found, uow.now)
        else:
            effects = lead.route(desk, routed, plan.profile)
            routed += 1
            open_handoffs.add(event.organisation_id, plan.identity, event.lead_id)
        uow.carry_out(effects, env)
        fresh.append(lead)
    await repo.add(fresh)
    await repo.save_roster(roster)


# ---------------------------------------------------------------------- verdicts, deals


async def take_submitted_verdict(env: Envelope, uow: UnitOfWork, deps: Deps) -> None:
    """D3: a verdict from the sellers' tools (the HTTP API takes the same path); a
    refused one is logged and changes nothing."""
    event = env.event
    assert isinstance(event, LeadVerdictSubmitted)
    try:
        await take_verdict(
            uow,
            deps.policy,
            lead_id=event.lead_id,
            seller_id=event.seller_id,
            verdict=event.verdict,
            reason_code=event.reason_code,
            reason_text=event.reason_text,
            cause=env,
        )
    except VerdictRefused as refused:
        log.warning("verdict_refused", lead_id=event.lead_id, reason=refused.reason)


async def record_deal_outcome(batch: list[Envelope], uow: UnitOfWork, deps: Deps) -> None:
    """D4: a deal won or lost later, credited to the lead and any lead linked to it."""
    outcomes = [o for env in batch if (o := deal_outcome(env.event)) is not None]
    await uow.repository(HandoffRepository).record_outcomes(outcomes)
    await erase_if_tombstoned(batch, uow)


async def record_customer(batch: list[Envelope], uow: UnitOfWork, deps: Deps) -> None:
    """The customer id closing gave the lead's company, so an erasure by customer id
    finds the lead (a close copies it to linked leads, with the outcome)."""
    customers = [
        (env.event.lead_id, env.event.customer_id)
        for env in batch
        if isinstance(env.event, DealOpened)
    ]
    await uow.repository(HandoffRepository).record_customers(customers)
    await erase_if_tombstoned(batch, uow)


# ---------------------------------------------------------------------- timers


async def remind_seller(timers: list[DueTimer], uow: UnitOfWork, deps: Deps) -> None:
    """X hours without a verdict: remind the seller (counted on the lead)."""
    repo = uow.repository(HandoffRepository)
    leads = await repo.awaiting_verdict(t.payload["lead_id"] for t in timers)
    reminded = []
    for timer in timers:
        lead = leads.get(timer.payload["lead_id"])
        if lead is None or not lead.awaits_verdict(timer.payload["attempt"]):
            continue
        uow.carry_out(lead.remind(uow.now))
        reminded.append(lead)
    await repo.save(reminded)


async def reassign_lead(timers: list[DueTimer], uow: UnitOfWork, deps: Deps) -> None:
    """Y hours without a verdict: the next eligible seller gets the lead."""
    repo = uow.repository(HandoffRepository)
    leads = await repo.awaiting_verdict(t.payload["lead_id"] for t in timers)
    roster = await repo.roster(lead.organisation_id for lead in leads.values())
    desk = Desk(roster, deps.policy, uow.now)
    changed = []
    for timer in timers:
        lead = leads.get(timer.payload["lead_id"])
        if lead is None or not lead.awaits_verdict(timer.payload["attempt"]):
            continue
        uow.carry_out(lead.reassign_after_sla(desk))
        changed.append(lead)
    await repo.save(changed)
    await repo.save_roster(roster)


async def roster_changed(timers: list[DueTimer], uow: UnitOfWork, deps: Deps) -> None:
    """A seller's absence ended: queued leads may have a seller now."""
    await move_queue(uow, deps.policy, (t.payload["organisation_id"] for t in timers))


# ---------------------------------------------------------------------- the table

EVENTS = [
    # prepare stays for throughput: gate, identity and encoding run while the batch
    # before commits (bench scenario "handoff: LeadQualified -> LeadAssigned").
    On(
        LeadQualified,
        hand_off_leads,
        prepare=plan_lead,
        emits=[LeadRejected, LeadLinkedAsDuplicate, LeadAssigned, LeadQueued],
    ),
    On(LeadVerdictSubmitted, take_submitted_verdict, emits=VERDICT_EMITS, one=True),
    On(DealClosed, record_deal_outcome),
    On(DealLost, record_deal_outcome),
    On(DealOpened, record_customer),
    On(CustomerErased, erase_customer),
]

TIMERS = [
    Every(SLA_REMINDER, remind_seller, emits=[HandoffReminderDue]),
    Every(SLA_REASSIGN, reassign_lead, emits=[LeadReassigned, LeadAssigned, LeadQueued]),
    Every(ROSTER_CHANGED, roster_changed, emits=[LeadAssigned, LeadQueued]),
]
