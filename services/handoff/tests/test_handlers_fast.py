"""Handlers under ``FakeUnitOfWork`` with the in-memory repository: no broker, no mongod,
milliseconds. The same handlers run on the real infrastructure in the integration tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kauppa.contracts import (
    HandoffReminderDue,
    LeadAccepted,
    LeadAssigned,
    LeadLinkedAsDuplicate,
    LeadQualified,
    LeadQueued,
    LeadRejected,
    Verdict,
    envelope,
    examples,
)
from kauppa.devkit.testing.fake_uow import FakeUnitOfWork
from kauppa.handoff.domain.lead import SLA_REASSIGN, SLA_REMINDER, reassign_key
from kauppa.handoff.domain.routing import Seller
from kauppa.handoff.domain.sla import SlaPolicy
from kauppa.handoff.domain.verdicts import LeadStatus
from kauppa.handoff.handlers import (
    EVENTS,
    Deps,
    hand_off_leads,
    remind_seller,
    take_submitted_verdict,
)
from kauppa.handoff.repository import HandoffRepository
from kauppa.servicekit.routes import handlers_from
from kauppa.servicekit.timers import DueTimer
from kauppa.servicekit.unit_of_work import Preparation

from .memory import InMemoryHandoffRepository
from .support import verdict

NOW = datetime(2027, 3, 1, 9, tzinfo=UTC)
ORG = "org-a"
DEPS = Deps(SlaPolicy(reminder_after_hours=4, reassign_after_hours=8))


def uow_at(now: datetime, repo: InMemoryHandoffRepository) -> FakeUnitOfWork:
    return FakeUnitOfWork(now, {HandoffRepository: repo})


async def take_in(repo: InMemoryHandoffRepository, *leads: LeadQualified) -> FakeUnitOfWork:
    """A batch of LeadQualified through its prepare step and handler, as the pipeline runs it."""
    batch = [envelope(lead, source="upstream") for lead in leads]
    prep = Preparation("handoff", NOW)
    for env in batch:
        prep.run(handlers_from(EVENTS, DEPS).prepares[LeadQualified.ce_type()], env)
    uow = uow_at(NOW, repo)
    uow.adopt(prep)
    await hand_off_leads(batch, uow, DEPS)
    return uow


async def test_a_batch_is_gated_linked_assigned_and_queued() -> None:
    repo = InMemoryHandoffRepository([Seller("anna", ORG, capacity=1)])
    first = examples.lead_qualified(organisation_id=ORG)
    same_company = examples.lead_qualified(
        organisation_id=ORG, prospect=examples.prospect(business_id=first.prospect.business_id)
    )
    unqualified = examples.lead_qualified(
        organisation_id=ORG, criteria=examples.criteria(ready_now=False)
    )
    waits = examples.lead_qualified(organisation_id=ORG)
    uow = await take_in(repo, first, same_company, unqualified, waits)

    assert [type(e) for e in uow.events] == [
        LeadAssigned,
        LeadLinkedAsDuplicate,
        LeadRejected,
        LeadQueued,
    ]
    status = {i: d["status"] for i, d in repo.leads.items()}
    assert status == {
        first.lead_id: LeadStatus.ASSIGNED,
        same_company.lead_id: LeadStatus.LINKED,
        unqualified.lead_id: LeadStatus.REJECTED,
        waits.lead_id: LeadStatus.QUEUED,
    }
    assert repo.sellers[(ORG, "anna")].open_leads == 1  # the roster was saved
    (timer,) = uow.timers
    assert timer.kind == SLA_REMINDER and timer.payload["lead_id"] == first.lead_id

    # The same lead again under a new event id changes nothing.
    again = await take_in(repo, first)
    assert again.events == [] and len(repo.leads) == 4


async def test_a_verdict_frees_the_seller_and_the_queue_moves() -> None:
    repo = InMemoryHandoffRepository([Seller("anna", ORG, capacity=1)])
    first, waits = (examples.lead_qualified(organisation_id=ORG) for _ in range(2))
    await take_in(repo, first, waits)

    uow = uow_at(NOW + timedelta(hours=1), repo)
    env = envelope(verdict(first.lead_id, "anna", Verdict.ACCEPT), source="tools")
    await take_submitted_verdict(env, uow, DEPS)

    assert [type(e) for e in uow.events] == [LeadAccepted, LeadAssigned]
    assert repo.leads[first.lead_id]["status"] == LeadStatus.ACCEPTED
    assert repo.leads[waits.lead_id]["status"] == LeadStatus.ASSIGNED
    assert [t.cancel for t in uow.timers] == [True, True, False]


async def test_a_refused_verdict_emits_nothing_and_changes_nothing() -> None:
    repo = InMemoryHandoffRepository([Seller("anna", ORG)])
    lead = examples.lead_qualified(organisation_id=ORG)
    await take_in(repo, lead)
    before = {i: dict(d) for i, d in repo.leads.items()}

    uow = uow_at(NOW, repo)
    for env in (
        envelope(verdict(lead.lead_id, "ben", Verdict.ACCEPT), source="tools"),
        envelope(verdict("lead-unknown", "anna", Verdict.ACCEPT), source="tools"),
    ):
        await take_submitted_verdict(env, uow, DEPS)
    assert uow.events == [] and uow.timers == [] and repo.leads == before


async def test_the_reminder_fires_for_the_current_attempt_only() -> None:
    repo = InMemoryHandoffRepository([Seller("anna", ORG)])
    lead = examples.lead_qualified(organisation_id=ORG)
    await take_in(repo, lead)
    due = NOW + timedelta(hours=4)

    def timer(attempt: int) -> DueTimer:
        payload = {"lead_id": lead.lead_id, "attempt": attempt}
        return DueTimer(f"t{attempt}", SLA_REMINDER, due, payload, due)

    uow = uow_at(due, repo)
    await remind_seller([timer(1), timer(2)], uow, DEPS)
    (event,) = uow.events
    assert isinstance(event, HandoffReminderDue)
    (armed,) = uow.timers
    assert (armed.key, armed.kind) == (reassign_key(lead.lead_id, 1), SLA_REASSIGN)
    assert repo.leads[lead.lead_id]["reminders"] == 1
