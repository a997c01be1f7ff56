"""What HTTP and events both do, inside one unit of work: a seller's verdict (from the
sellers' tools or ``POST /leads/{id}/verdict``), a roster change that may assign queued
leads, the queue moving, and leads taken in over HTTP (through the same handlers and
inbox as Kafka). Refusals are raised as the domain's (``VerdictRefused``, ``UnknownLead``);
the HTTP edge gives them their status."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from kauppa.contracts import (
    Envelope,
    LeadAccepted,
    LeadAssigned,
    LeadQueued,
    LeadReturned,
    ReturnReason,
    Verdict,
)
from kauppa.handoff.domain.lead import ROSTER_CHANGED, Desk, Lead
from kauppa.handoff.domain.routing import Absence, Roster, Seller
from kauppa.handoff.domain.sla import SlaPolicy
from kauppa.handoff.domain.verdicts import UnknownLead
from kauppa.handoff.repository import HandoffRepository, seller_key
from kauppa.servicekit.runtime import ServiceRuntime
from kauppa.servicekit.unit_of_work import UnitOfWork

# A verdict (by event or HTTP) accepts or returns the lead; the seller's freed capacity
# may assign a queued lead.
VERDICT_EMITS = (LeadAccepted, LeadReturned, LeadAssigned, LeadQueued)
# The HTTP commands: verdicts, and roster changes that assign queued leads.
COMMAND_EMITS = VERDICT_EMITS


async def drain_queue(
    uow: UnitOfWork, desk: Desk, orgs: Iterable[str], cause: Envelope | None = None
) -> list[Lead]:
    """Assign the organisations' queued leads, oldest first, while eligible sellers have
    room. Returns the leads assigned (already written)."""
    org_list = desk.organisations_to_drain(orgs)
    if not org_list:
        return []
    repo = uow.repository(HandoffRepository)
    assigned, effects = desk.drain(await repo.queued(org_list))
    uow.carry_out(effects, cause)
    await repo.save(assigned)
    return assigned


async def take_verdict(
    uow: UnitOfWork,
    policy: SlaPolicy,
    *,
    lead_id: str,
    seller_id: str,
    verdict: Verdict,
    reason_code: ReturnReason | None,
    reason_text: str | None,
    cause: Envelope | None,
    organisation_id: str | None = None,
) -> Lead:
    """D3: judge and record a seller's verdict; frees the seller's capacity and lets the
    queue move. Returns the lead as stored; raises ``VerdictRefused`` (``UnknownLead``:
    with an ``organisation_id``, a lead of another organisation is unknown too)."""
    repo = uow.repository(HandoffRepository)
    lead = await repo.get(lead_id)
    if lead is None or (organisation_id and lead.organisation_id != organisation_id):
        raise UnknownLead()
    roster = await repo.roster([lead.organisation_id])
    desk = Desk(roster, policy, uow.now)
    uow.carry_out(lead.record_verdict(desk, seller_id, verdict, reason_code, reason_text), cause)
    await repo.save([lead])
    await repo.credit_linked(lead)
    await drain_queue(uow, desk, [lead.organisation_id], cause)
    await repo.save_roster(roster)
    return lead


@dataclass(frozen=True)
class RosterChange:
    """What a roster change did: the seller as now, the queued leads it assigned, and
    whether the seller was new."""

    seller: Seller
    assigned: list[str]
    added: bool


async def change_seller(
    uow: UnitOfWork,
    policy: SlaPolicy,
    organisation_id: str,
    seller_id: str,
    profile: dict[str, object],
    absences: Sequence[Absence],
) -> RosterChange:
    """Add or change a seller of the organisation; queued leads the change makes
    assignable are assigned, and each absence that ends later moves the queue then."""
    repo = uow.repository(HandoffRepository)
    existed = await repo.put_seller(organisation_id, seller_id, profile, list(absences))
    for absence in absences:
        if absence.end is not None and absence.end > uow.now:
            uow.schedule(
                absence_end_key(organisation_id, seller_id, absence.end),
                absence.end,
                ROSTER_CHANGED,
                {"organisation_id": organisation_id},
            )
    roster = await repo.roster([organisation_id])
    assigned = await drain_queue(uow, Desk(roster, policy, uow.now), [organisation_id])
    await repo.save_roster(roster)
    seller = roster.get(organisation_id, seller_id)
    assert seller is not None
    return RosterChange(seller, [lead.lead_id for lead in assigned], not existed)


def absence_end_key(organisation_id: str, seller_id: str, end: datetime) -> str:
    return f"absence-end:{seller_key(organisation_id, seller_id)}:{end.isoformat()}"


async def move_queue(uow: UnitOfWork, policy: SlaPolicy, orgs: Iterable[str]) -> None:
    """Something changed on the organisations' rosters (an absence ended): queued leads
    may have a seller now."""
    orgs = set(orgs)
    repo = uow.repository(HandoffRepository)
    roster: Roster = await repo.roster(orgs)
    await drain_queue(uow, Desk(roster, policy, uow.now), orgs)
    await repo.save_roster(roster)


async def hand_in_lead(runtime: ServiceRuntime, env: Envelope) -> bool:
    """A ``LeadQualified`` received over HTTP goes through the same handlers and inbox as
    Kafka (the same event id by any route has one effect). True: it was taken in before."""
    outcome = await runtime.pipeline.process_envelopes([env])
    return outcome.duplicates > 0
