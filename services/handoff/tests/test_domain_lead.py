"""The Lead aggregate's verbs, pure: what each changes on the lead and the roster, and the
events and timer requests it returns (D1 gate, routing, D3 SLA and verdicts, D4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from kauppa.contracts import (
    HandoffReminderDue,
    LeadAccepted,
    LeadAssigned,
    LeadLinkedAsDuplicate,
    LeadQueued,
    LeadReassigned,
    LeadRejected,
    LeadReturned,
    QueueReason,
    ReturnReason,
    Verdict,
    examples,
)
from kauppa.handoff.domain.gate import check_lead
from kauppa.handoff.domain.identity import identity_of
from kauppa.handoff.domain.lead import (
    SLA_REASSIGN,
    SLA_REMINDER,
    Desk,
    Lead,
    deal_outcome,
    reassign_key,
    reminder_key,
)
from kauppa.handoff.domain.routing import Roster, Seller
from kauppa.handoff.domain.sla import SlaPolicy
from kauppa.handoff.domain.verdicts import LeadStatus, UnknownLead, VerdictRefused
from kauppa.servicekit.http import refusal_status

NOW = datetime(2027, 3, 1, 9, tzinfo=UTC)
POLICY = SlaPolicy(reminder_after_hours=4, reassign_after_hours=8)  # clock hours
ORG = "org-a"


def new_lead(**kw: object) -> Lead:
    event = examples.lead_qualified(organisation_id=ORG, **kw)
    return Lead.received(event, "ev-1", identity_of(event.prospect), NOW)


def desk(*sellers: Seller, at: datetime = NOW) -> Desk:
    return Desk(Roster(sellers), POLICY, at)


def seller(seller_id: str, **kw: object) -> Seller:
    return Seller(seller_id=seller_id, organisation_id=ORG, **kw)  # type: ignore[arg-type]


def assigned_lead(d: Desk) -> Lead:
    lead = new_lead()
    lead.assign_or_queue(d)
    assert lead.status == LeadStatus.ASSIGNED
    return lead


def test_assign_takes_capacity_sets_the_deadline_and_arms_the_reminder() -> None:
    anna = seller("anna", capacity=1)
    lead = new_lead()
    effects = lead.route(desk(anna), order=0)
    (event,) = effects.events
    assert isinstance(event, LeadAssigned)
    assert (event.seller_id, event.attempt) == ("anna", 1)
    assert event.respond_by == NOW + timedelta(hours=8)
    (timer,) = effects.timers
    assert timer.key == reminder_key(lead.lead_id, 1) and timer.kind == SLA_REMINDER
    assert timer.due_at == NOW + timedelta(hours=4) and timer.new
    assert anna.open_leads == 1
    assert lead.state["sellers_tried"] == ["anna"] and lead.state["routed_n"] == 0
    assert lead.state["first_assigned_at"] == NOW and lead.state["open"] is True


def test_nobody_eligible_queues_the_lead_and_tells_the_source_once() -> None:
    lead = new_lead()
    full = desk(seller("anna", capacity=0))
    (event,) = lead.assign_or_queue(full).events
    assert isinstance(event, LeadQueued) and event.reason == QueueReason.ALL_AT_CAPACITY
    assert lead.status == LeadStatus.QUEUED and lead.seller_id is None
    assert lead.state["queued_at"] == NOW
    # Still nobody, later: it keeps its place in the queue and says nothing again.
    assert (
        lead.assign_or_queue(desk(seller("anna", capacity=0), at=NOW + timedelta(1))).events == []
    )
    assert lead.state["queued_at"] == NOW and lead.state["times_queued"] == 1


def test_the_reminder_counts_and_arms_the_reassignment_at_the_deadline() -> None:
    lead = assigned_lead(desk(seller("anna")))
    assert lead.awaits_verdict(1) and not lead.awaits_verdict(2)
    effects = lead.remind(NOW + timedelta(hours=4))
    (event,) = effects.events
    assert isinstance(event, HandoffReminderDue) and event.seller_id == "anna"
    (timer,) = effects.timers
    assert timer.key == reassign_key(lead.lead_id, 1) and timer.kind == SLA_REASSIGN
    assert timer.due_at == lead.state["respond_by"] and not timer.new
    assert lead.state["reminders"] == 1


def test_sla_lapse_moves_the_lead_to_the_next_seller_never_back() -> None:
    anna, ben = seller("anna"), seller("ben")
    lead = assigned_lead(desk(anna, ben))
    first = lead.seller_id
    later = desk(anna, ben, at=NOW + timedelta(hours=8))
    effects = lead.reassign_after_sla(later)
    assigned, reassigned = effects.events
    assert isinstance(assigned, LeadAssigned) and assigned.attempt == 2
    assert isinstance(reassigned, LeadReassigned)
    assert reassigned.from_seller_id == first and reassigned.to_seller_id == lead.seller_id
    assert lead.seller_id != first and lead.state["reassignments"] == 1
    # The second lapses too: nobody left who has not let it lapse -> the queue.
    effects = lead.reassign_after_sla(desk(anna, ben, at=NOW + timedelta(hours=16)))
    queued, reassigned = effects.events
    assert isinstance(queued, LeadQueued) and queued.reason == QueueReason.ALL_SLA_EXPIRED
    assert isinstance(reassigned, LeadReassigned) and reassigned.to_seller_id is None
    assert sorted(lead.sla_expired_sellers) == ["anna", "ben"]
    assert anna.open_leads == ben.open_leads == 0


def test_d3_accept_frees_the_seller_cancels_the_sla_and_credits_linked_leads() -> None:
    anna = seller("anna")
    d = desk(anna)
    lead = assigned_lead(d)
    effects = lead.record_verdict(d, "anna", Verdict.ACCEPT, None, None)
    (event,) = effects.events
    assert isinstance(event, LeadAccepted) and event.seller_id == "anna"
    assert [(t.key, t.cancel) for t in effects.timers] == [
        (reminder_key(lead.lead_id, 1), True),
        (reassign_key(lead.lead_id, 1), True),
    ]
    assert anna.open_leads == 0 and lead.status == LeadStatus.ACCEPTED
    assert lead.linked_credit() == {"verdict": "accept", "verdict_at": NOW}


def test_d3_return_closes_the_handoff_with_its_reason() -> None:
    d = desk(seller("anna"))
    lead = assigned_lead(d)
    effects = lead.record_verdict(d, "anna", Verdict.RETURN, ReturnReason.NO_BUDGET, " later ")
    (event,) = effects.events
    assert isinstance(event, LeadReturned) and event.reason_code == ReturnReason.NO_BUDGET
    assert lead.status == LeadStatus.RETURNED and lead.state["open"] is False
    assert lead.state["return_text"] == "later"
    assert lead.linked_credit()["return_reason"] == "no_budget"


def test_d3_verdicts_out_of_turn_are_refused_and_change_nothing() -> None:
    anna = seller("anna")
    d = desk(anna)
    lead = assigned_lead(d)
    before = dict(lead.state)
    with pytest.raises(VerdictRefused) as refused:
        lead.record_verdict(d, "ben", Verdict.ACCEPT, None, None)
    assert refused.value.reason == "lead is assigned to another seller"
    with pytest.raises(VerdictRefused):
        lead.record_verdict(d, "anna", Verdict.RETURN, ReturnReason.OTHER, None)
    assert lead.state == before and anna.open_leads == 1
    # At the HTTP edge: out of turn is a conflict, an unknown lead is not found.
    assert refusal_status(refused.value) == 409
    assert refusal_status(UnknownLead()) == 404 and isinstance(UnknownLead(), VerdictRefused)


def test_d1_the_gate_rejection_names_every_reason() -> None:
    event = examples.lead_qualified(criteria=examples.criteria(budget=False, authority=False))
    lead = Lead.received(event, "ev-1", identity_of(event.prospect), NOW)
    rejected = lead.reject_at_gate(check_lead(event), NOW)
    assert isinstance(rejected, LeadRejected)
    assert [c.value for c in rejected.unmet_criteria] == ["budget", "authority"]
    assert lead.status == LeadStatus.REJECTED and lead.state["open"] is False


def test_a_duplicate_is_linked_not_assigned() -> None:
    lead = new_lead()
    (event,) = lead.link_as_duplicate("lead-first", "business_id", NOW).events
    assert isinstance(event, LeadLinkedAsDuplicate) and event.linked_to_lead_id == "lead-first"
    assert lead.status == LeadStatus.LINKED and lead.state["linked_to"] == "lead-first"


def test_d4_a_deal_won_or_lost_closes_the_handoff() -> None:
    closed = examples.deal_closed(lead_id="lead-1")
    outcome = deal_outcome(closed)
    assert outcome is not None and outcome.lead_id == "lead-1"
    assert outcome.fields["open"] is False and outcome.fields["deal_id"] == closed.deal_id
    assert deal_outcome(examples.deal_closed(lead_id=None)) is None
    assert deal_outcome(examples.lead_queued()) is None


def test_the_desk_drains_the_queue_oldest_first_while_someone_has_room() -> None:
    anna = seller("anna", capacity=1)
    waiting = []
    for _ in range(2):
        lead = new_lead()
        lead.assign_or_queue(desk(seller("anna", capacity=0)))
        waiting.append(lead)
    d = desk(anna, at=NOW + timedelta(hours=1))
    assert d.organisations_to_drain([ORG, "org-empty"]) == [ORG]
    assigned, effects = d.drain(waiting)
    assert assigned == waiting[:1] and waiting[1].status == LeadStatus.QUEUED
    assert [type(e) for e in effects.events] == [LeadAssigned]
    assert d.organisations_to_drain([ORG]) == []
