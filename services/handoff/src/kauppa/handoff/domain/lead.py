"""The Lead aggregate: one lead's handoff from the gate (D1) to its seller's verdict (D3)
and what became of it (D4), and the desk that routes leads at one moment.

Where is a lead assigned? ``Lead.assign_or_queue``: routing (``domain/routing.py``) picks
the seller or says why nobody can take it, and the lead is assigned (``LeadAssigned``, its
SLA reminder) or queued (``LeadQueued``, once per stay). Every verb returns what it
causes (the kit's ``Effects``: events to emit, timers to arm or cancel) or raises a
refusal; none reads or writes anything. The state is the lead's fields as the repository
stores them (one document per lead), changed only by these verbs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from kauppa.contracts import (
    DealClosed,
    DealLost,
    Event,
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
    Prospect,
    QualificationCriteria,
    ReturnReason,
    Verdict,
)
from kauppa.handoff.domain.gate import GateDecision
from kauppa.handoff.domain.identity import ProspectIdentity
from kauppa.handoff.domain.routing import LeadProfile, NoSeller, Roster, Seller, language_of, route
from kauppa.handoff.domain.sla import SlaPolicy
from kauppa.handoff.domain.verdicts import LeadStatus, VerdictRefused, judge_verdict
from kauppa.servicekit.unit_of_work import Effects, TimerRequest

State = dict[str, Any]

SLA_REMINDER = "sla_reminder"
SLA_REASSIGN = "sla_reassign"
ROSTER_CHANGED = "roster_changed"


def reminder_key(lead_id: str, attempt: int) -> str:
    return f"sla-remind:{lead_id}:{attempt}"


def reassign_key(lead_id: str, attempt: int) -> str:
    return f"sla-reassign:{lead_id}:{attempt}"


def profile_of(state: State) -> LeadProfile:
    """What routing needs to know about a lead (from its stored fields)."""
    prospect = state.get("prospect") or {}
    return LeadProfile(
        organisation_id=state["organisation_id"],
        region=prospect.get("region"),
        products=state.get("product_interest") or [],
        language=language_of(prospect.get("locale") or ""),
    )


class Desk:
    """The handoff desk at one moment (a pure domain service): the roster of the
    organisations in play, the SLA policy and now, fixed for one unit of work, so the
    business calendar is asked for an assignment's deadlines once per batch."""

    def __init__(self, roster: Roster, policy: SlaPolicy, now: datetime) -> None:
        self.roster, self.policy, self.now = roster, policy, now

    @cached_property
    def deadlines(self) -> tuple[datetime, datetime]:
        """(reminder, respond by) for an assignment now."""
        return self.policy.reminder_at(self.now), self.policy.respond_by(self.now)

    def organisations_to_drain(self, orgs: Iterable[str]) -> list[str]:
        """Of ``orgs``, those where some seller could take a queued lead now: a queue
        nobody can serve is not re-read on every batch."""
        return sorted(org for org in set(orgs) if self.roster.could_take_a_lead(org))

    def drain(self, queued: Iterable[Lead]) -> tuple[list[Lead], Effects]:
        """Assign queued leads (oldest first, as given) while eligible sellers have room;
        never to a seller who let the lead's SLA lapse. Returns the leads assigned."""
        effects, assigned = Effects(), []
        for lead in queued:
            effects += lead.assign_or_queue(self, exclude=lead.sla_expired_sellers)
            if lead.status == LeadStatus.ASSIGNED:
                assigned.append(lead)
        return assigned, effects


@dataclass(frozen=True)
class DealOutcome:
    """D4: a deal won or lost later, credited to its lead and every lead linked to it
    (written set-wise by the repository: the leads are not loaded)."""

    lead_id: str
    fields: State


def deal_outcome(event: object) -> DealOutcome | None:
    """What a ``DealClosed`` (of a lead) or ``DealLost`` records on the leads; None for
    anything else. The handoff is no longer open either way."""
    if isinstance(event, DealClosed) and event.lead_id:
        lead_id = event.lead_id
        fields: State = {
            "closed_at": event.closed_at,
            "deal_id": event.deal_id,
            "customer_id": event.customer_id,
        }
    elif isinstance(event, DealLost):
        lead_id = event.lead_id
        fields = {"lost_at": event.lost_at, "deal_id": event.deal_id}
    else:
        return None
    return DealOutcome(lead_id, {**fields, "open": False})


class Lead:
    """One lead. Built from its stored fields (``qualified``: the event it arrived in,
    when at hand, so an assignment does not parse the source and prospect again)."""

    def __init__(self, state: State, qualified: LeadQualified | None = None) -> None:
        self.state = state
        self._qualified = qualified

    @classmethod
    def received(
        cls, lead: LeadQualified, event_id: str, identity: ProspectIdentity, now: datetime
    ) -> Lead:
        """A lead as it arrives, before the gate."""
        return cls(
            {
                "_id": lead.lead_id,
                "organisation_id": lead.organisation_id,
                "event_id": event_id,
                "source": lead.source.model_dump(mode="json"),
                "prospect": lead.prospect.model_dump(mode="json"),
                "criteria": lead.criteria.model_dump(mode="json"),
                "product_interest": list(lead.product_interest),
                "qualified_at": lead.qualified_at,
                "received_at": now,
                "identity": {
                    "business_id": identity.business_id,
                    "email": identity.email,
                    "domain": identity.domain,
                },
                "open": False,
                "reminders": 0,
                "reassignments": 0,
            },
            lead,
        )

    # ------------------------------------------------------------------ what it is

    @property
    def lead_id(self) -> str:
        return str(self.state["_id"])

    @property
    def organisation_id(self) -> str:
        return str(self.state["organisation_id"])

    @property
    def status(self) -> str | None:
        return self.state.get("status")

    @property
    def seller_id(self) -> str | None:
        return self.state.get("seller_id")

    @property
    def attempt(self) -> int:
        return int(self.state.get("attempt") or 0)

    @property
    def sla_expired_sellers(self) -> list[str]:
        return list(self.state.get("sla_expired_sellers") or [])

    @property
    def profile(self) -> LeadProfile:
        return profile_of(self.state)

    def awaits_verdict(self, attempt: int) -> bool:
        """Assigned, in this attempt still (an SLA timer of an earlier one is stale)."""
        return self.status == LeadStatus.ASSIGNED and self.state.get("attempt") == attempt

    def linked_credit(self) -> State:
        """The verdict as leads linked to this one are credited with it (D4: both
        sources found the prospect)."""
        keys = ("verdict", "verdict_at", "return_reason")
        return {k: self.state[k] for k in keys if k in self.state}

    def _source(self) -> LeadSource:
        if self._qualified is not None:
            return self._qualified.source
        return LeadSource.model_validate(self.state["source"])

    # ------------------------------------------------------------------ intake

    def reject_at_gate(self, decision: GateDecision, now: datetime) -> LeadRejected:
        """D1: the gate refused it; every unmet criterion and data problem goes back to
        the source."""
        self.state.update(
            status=LeadStatus.REJECTED,
            unmet_criteria=[c.value for c in decision.unmet_criteria],
            problems=decision.problems,
        )
        return LeadRejected(
            lead_id=self.lead_id,
            organisation_id=self.organisation_id,
            source=self._source(),
            unmet_criteria=decision.unmet_criteria,
            problems=decision.problems,
            rejected_at=now,
        )

    def link_as_duplicate(self, primary: str, matched_on: str, now: datetime) -> Effects:
        """The prospect already has an open handoff: this lead is linked to it, not
        assigned again."""
        self.state.update(status=LeadStatus.LINKED, linked_to=primary, matched_on=matched_on)
        return Effects(
            [
                LeadLinkedAsDuplicate(
                    lead_id=self.lead_id,
                    organisation_id=self.organisation_id,
                    source=self._source(),
                    linked_to_lead_id=primary,
                    matched_on=matched_on,
                    linked_at=now,
                )
            ]
        )

    def route(self, desk: Desk, order: int, profile: LeadProfile | None = None) -> Effects:
        """First routing: recorded with its order at this instant (the what-if replays
        leads in it), then assigned or queued."""
        self.state.update(routed_at=desk.now, routed_n=order)
        return self.assign_or_queue(desk, profile=profile)

    # ------------------------------------------------------------------ routing

    def assign_or_queue(
        self, desk: Desk, exclude: Iterable[str] = (), profile: LeadProfile | None = None
    ) -> Effects:
        """Route the lead: to the seller routing picks, or to the unassigned queue."""
        profile = profile or self.profile
        sellers = desk.roster.sellers(self.organisation_id)
        chosen = route(sellers, profile, desk.now, exclude)
        if isinstance(chosen, NoSeller):
            return self.queue(chosen, profile, desk.now)
        return self.assign(chosen, desk)

    def queue(self, why: NoSeller, profile: LeadProfile, now: datetime) -> Effects:
        """Nobody can take it: it waits in the queue, and its source hears why (once
        per stay in the queue)."""
        effects = Effects()
        if self.status != LeadStatus.QUEUED:
            self.state.update(
                queue_reason=why.reason.value,
                queue_detail=why.detail,
                # Kept after assignment, for source quality: how often and last why it waited.
                times_queued=int(self.state.get("times_queued") or 0) + 1,
                last_queue_reason=why.reason.value,
            )
            effects.events.append(
                LeadQueued(
                    lead_id=self.lead_id,
                    organisation_id=self.organisation_id,
                    source=self._source(),
                    reason=why.reason,
                    detail=why.detail,
                    product_interest=self.state.get("product_interest") or [],
                    region=profile.region,
                    language=profile.language or None,
                    attempt=self.attempt,
                    queued_at=now,
                )
            )
        self.state.update(status=LeadStatus.QUEUED, seller_id=None, open=True)
        if self.state.get("queued_at") is None:
            self.state["queued_at"] = now
        return effects

    def assign(self, seller: Seller, desk: Desk) -> Effects:
        """The seller gets the lead (a new attempt), with a verdict deadline and the SLA
        reminder armed; the seller's capacity is taken on the roster."""
        desk.roster.assign(seller)
        now = desk.now
        attempt = self.attempt + 1
        remind_at, respond_by = desk.deadlines
        self.state.update(
            status=LeadStatus.ASSIGNED,
            open=True,
            seller_id=seller.seller_id,
            attempt=attempt,
            assigned_at=now,
            respond_by=respond_by,
            queued_at=None,
            queue_reason=None,
            queue_detail=None,
        )
        if self.state.get("first_assigned_at") is None:
            self.state["first_assigned_at"] = now
        self.state.setdefault("sellers_tried", []).append(seller.seller_id)
        q = self._qualified
        assigned = LeadAssigned(
            lead_id=self.lead_id,
            organisation_id=self.organisation_id,
            seller_id=seller.seller_id,
            source=self._source(),
            prospect=q.prospect if q else Prospect.model_validate(self.state["prospect"]),
            criteria=(
                q.criteria if q else QualificationCriteria.model_validate(self.state["criteria"])
            ),
            product_interest=self.state.get("product_interest") or [],
            assigned_at=now,
            respond_by=respond_by,
            attempt=attempt,
        )
        # One timer at a time: the reminder arms the reassignment when it fires. Each
        # assignment is a new attempt (numbered only here), so its key is new.
        reminder = TimerRequest(
            reminder_key(self.lead_id, attempt),
            remind_at,
            SLA_REMINDER,
            {"lead_id": self.lead_id, "attempt": attempt},
            new=True,
        )
        return Effects([assigned], [reminder])

    # ------------------------------------------------------------------ the SLA (D3)

    def remind(self, now: datetime) -> Effects:
        """X hours without a verdict: the seller is reminded (counted on the lead) and
        the reassignment is armed for the verdict deadline."""
        attempt = int(self.state["attempt"])
        rearm = TimerRequest(
            reassign_key(self.lead_id, attempt),
            self.state["respond_by"],
            SLA_REASSIGN,
            {"lead_id": self.lead_id, "attempt": attempt},
        )
        self.state["reminders"] = int(self.state.get("reminders", 0)) + 1
        reminder = HandoffReminderDue(
            lead_id=self.lead_id,
            organisation_id=self.organisation_id,
            seller_id=self.state["seller_id"],
            assigned_at=self.state["assigned_at"],
            respond_by=self.state["respond_by"],
            reminded_at=now,
        )
        return Effects([reminder], [rearm])

    def reassign_after_sla(self, desk: Desk) -> Effects:
        """Y hours without a verdict: the next eligible seller who has not let this
        lead's SLA lapse gets it; nobody eligible -> the unassigned queue."""
        previous = self.state["seller_id"]
        desk.roster.release(self.organisation_id, previous)
        expired = self.state.setdefault("sla_expired_sellers", [])
        if previous not in expired:
            expired.append(previous)
        self.state["reassignments"] = int(self.state.get("reassignments", 0)) + 1
        effects = self.assign_or_queue(desk, exclude=expired)
        effects.events.append(
            LeadReassigned(
                lead_id=self.lead_id,
                organisation_id=self.organisation_id,
                from_seller_id=previous,
                to_seller_id=self.seller_id,
                reason="sla_expired",
                reassigned_at=desk.now,
            )
        )
        return effects

    # ------------------------------------------------------------------ the verdict (D3)

    def record_verdict(
        self,
        desk: Desk,
        seller_id: str,
        verdict: Verdict,
        reason_code: ReturnReason | None,
        reason_text: str | None,
    ) -> Effects:
        """The assigned seller accepts the lead or returns it with a reason: the SLA
        timers are cancelled, the seller's capacity is freed, and the verdict flows back
        to the source. Raises ``VerdictRefused`` (``UnknownLead``) when the rules say no."""
        judged = judge_verdict(
            status=self.status,
            assigned_seller=self.seller_id,
            seller_id=seller_id,
            verdict=verdict,
            reason_code=reason_code,
            reason_text=reason_text,
        )
        if isinstance(judged, VerdictRefused):
            raise judged
        now, attempt = desk.now, int(self.state.get("attempt") or 1)
        cancels = [
            TimerRequest(reminder_key(self.lead_id, attempt), cancel=True),
            TimerRequest(reassign_key(self.lead_id, attempt), cancel=True),
        ]
        desk.roster.release(self.organisation_id, seller_id)
        credit: State = {"verdict": judged.verdict.value, "verdict_at": now}
        event: Event
        if judged.verdict == Verdict.ACCEPT:
            self.state.update(status=LeadStatus.ACCEPTED, **credit)
            event = LeadAccepted(
                lead_id=self.lead_id,
                organisation_id=self.organisation_id,
                seller_id=seller_id,
                source=self._source(),
                prospect=Prospect.model_validate(self.state["prospect"]),
                product_interest=self.state.get("product_interest") or [],
                accepted_at=now,
                assigned_at=self.state.get("assigned_at"),
            )
        else:
            assert judged.reason_code is not None
            credit["return_reason"] = judged.reason_code.value
            self.state.update(
                status=LeadStatus.RETURNED, open=False, return_text=judged.reason_text, **credit
            )
            event = LeadReturned(
                lead_id=self.lead_id,
                organisation_id=self.organisation_id,
                seller_id=seller_id,
                source=self._source(),
                reason_code=judged.reason_code,
                reason_text=judged.reason_text,
                returned_at=now,
            )
        return Effects([event], cancels)
