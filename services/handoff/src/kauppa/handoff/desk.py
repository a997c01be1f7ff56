"""The handoff desk: assigning, queueing, reassigning and releasing leads inside one unit
of work. Event handlers, timer handlers and HTTP commands all go through it, so a lead
moves the same way whatever moved it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from kauppa.contracts import (
    Envelope,
    LeadAccepted,
    LeadAssigned,
    LeadQualified,
    LeadQueued,
    LeadReassigned,
    LeadReturned,
    LeadSource,
    Prospect,
    QualificationCriteria,
    Verdict,
)
from kauppa.handoff.domain.routing import LeadProfile, NoSeller, route
from kauppa.handoff.domain.sla import SlaPolicy
from kauppa.handoff.domain.verdicts import LeadStatus, VerdictAccepted
from kauppa.handoff.domain.what_if import QUEUE_DRAIN_LIMIT  # the replay drains the same way
from kauppa.handoff.repository import LEADS, Roster, profile_of
from kauppa.servicekit.unit_of_work import UnitOfWork
from pymongo import ReplaceOne

Document = dict[str, Any]

SLA_REMINDER = "sla_reminder"
SLA_REASSIGN = "sla_reassign"
ROSTER_CHANGED = "roster_changed"


def reminder_key(lead_id: str, attempt: int) -> str:
    return f"sla-remind:{lead_id}:{attempt}"


def reassign_key(lead_id: str, attempt: int) -> str:
    return f"sla-reassign:{lead_id}:{attempt}"


class HandoffDesk:
    def __init__(
        self, uow: UnitOfWork, roster: Roster, policy: SlaPolicy, cause: Envelope | None = None
    ) -> None:
        self.uow, self.roster, self.policy, self.cause = uow, roster, policy, cause
        self._deadlines: tuple[datetime, datetime] | None = None

    def deadlines(self) -> tuple[datetime, datetime]:
        """(reminder, respond by) for an assignment now; ``now`` is fixed for the whole
        unit of work, so the business calendar is asked once per batch."""
        if self._deadlines is None:
            self._deadlines = (
                self.policy.reminder_at(self.now),
                self.policy.respond_by(self.now),
            )
        return self._deadlines

    @property
    def now(self) -> datetime:
        return self.uow.now

    def assign_or_queue(
        self,
        doc: Document,
        exclude: Iterable[str] = (),
        lead: LeadQualified | None = None,
        profile: LeadProfile | None = None,
    ) -> str | None:
        """Route the lead: assign it (event, SLA timers) or put it in the unassigned
        queue, telling its source why (LeadQueued, once per stay in the queue). Changes
        ``doc`` in place; returns the seller id or None when queued."""
        profile = profile or profile_of(doc)
        seller = route(self.roster.sellers(doc["organisation_id"]), profile, self.now, exclude)
        if isinstance(seller, NoSeller):
            if doc.get("status") != LeadStatus.QUEUED:
                self._queue(doc, seller, profile, lead)
            doc.update(status=LeadStatus.QUEUED, seller_id=None, open=True)
            if doc.get("queued_at") is None:
                doc["queued_at"] = self.now
            return None
        self.roster.assign(seller)
        attempt = int(doc.get("attempt") or 0) + 1
        remind_at, respond_by = self.deadlines()
        doc.update(
            status=LeadStatus.ASSIGNED,
            open=True,
            seller_id=seller.seller_id,
            attempt=attempt,
            assigned_at=self.now,
            respond_by=respond_by,
            queued_at=None,
            queue_reason=None,
            queue_detail=None,
        )
        if doc.get("first_assigned_at") is None:
            doc["first_assigned_at"] = self.now
        doc.setdefault("sellers_tried", []).append(seller.seller_id)
        lead_id = doc["_id"]
        self.uow.emit(
            LeadAssigned(
                lead_id=lead_id,
                organisation_id=doc["organisation_id"],
                seller_id=seller.seller_id,
                source=lead.source if lead else LeadSource.model_validate(doc["source"]),
                prospect=lead.prospect if lead else Prospect.model_validate(doc["prospect"]),
                criteria=(
                    lead.criteria if lead else QualificationCriteria.model_validate(doc["criteria"])
                ),
                product_interest=doc.get("product_interest") or [],
                assigned_at=self.now,
                respond_by=respond_by,
                attempt=attempt,
            ),
            cause=self.cause,
        )
        # One timer at a time: the reminder arms the reassignment when it fires. Each
        # assignment is a new attempt (numbered only here), so its key is new.
        self.uow.schedule(
            reminder_key(lead_id, attempt),
            remind_at,
            SLA_REMINDER,
            {"lead_id": lead_id, "attempt": attempt},
            new=True,
        )
        return seller.seller_id

    def _queue(
        self, doc: Document, why: NoSeller, profile: LeadProfile, lead: LeadQualified | None
    ) -> None:
        """The lead enters the queue: the reason is kept on it and goes back to its source."""
        doc.update(
            queue_reason=why.reason.value,
            queue_detail=why.detail,
            # Kept after assignment, for source quality: how often and last why it waited.
            times_queued=int(doc.get("times_queued") or 0) + 1,
            last_queue_reason=why.reason.value,
        )
        self.uow.emit(
            LeadQueued(
                lead_id=doc["_id"],
                organisation_id=doc["organisation_id"],
                source=lead.source if lead else LeadSource.model_validate(doc["source"]),
                reason=why.reason,
                detail=why.detail,
                product_interest=doc.get("product_interest") or [],
                region=profile.region,
                language=profile.language or None,
                attempt=int(doc.get("attempt") or 0),
                queued_at=self.now,
            ),
            cause=self.cause,
        )

    def arm_reassignment(self, doc: Document) -> None:
        lead_id, attempt = doc["_id"], int(doc["attempt"])
        self.uow.schedule(
            reassign_key(lead_id, attempt),
            doc["respond_by"],
            SLA_REASSIGN,
            {"lead_id": lead_id, "attempt": attempt},
        )

    def reassign_after_sla(self, doc: Document) -> None:
        """Y hours without a verdict: the next eligible seller who has not let this lead's
        SLA lapse gets it; nobody eligible -> the unassigned queue."""
        previous = doc["seller_id"]
        self.roster.release(doc["organisation_id"], previous)
        expired = doc.setdefault("sla_expired_sellers", [])
        if previous not in expired:
            expired.append(previous)
        doc["reassignments"] = int(doc.get("reassignments", 0)) + 1
        to_seller = self.assign_or_queue(doc, exclude=expired)
        self.uow.emit(
            LeadReassigned(
                lead_id=doc["_id"],
                organisation_id=doc["organisation_id"],
                from_seller_id=previous,
                to_seller_id=to_seller,
                reason="sla_expired",
                reassigned_at=self.now,
            ),
            cause=self.cause,
        )

    def record_verdict(self, doc: Document, seller_id: str, verdict: VerdictAccepted) -> Document:
        """D3: the verdict closes the seller's SLA and flows back to the source. Returns
        the fields to copy onto leads linked to this one (both sources are credited)."""
        lead_id, attempt = doc["_id"], int(doc.get("attempt") or 1)
        self.uow.cancel(reminder_key(lead_id, attempt))
        self.uow.cancel(reassign_key(lead_id, attempt))
        self.roster.release(doc["organisation_id"], seller_id)
        source = LeadSource.model_validate(doc["source"])
        credit: Document = {"verdict": verdict.verdict.value, "verdict_at": self.now}
        if verdict.verdict == Verdict.ACCEPT:
            doc.update(status=LeadStatus.ACCEPTED, **credit)
            self.uow.emit(
                LeadAccepted(
                    lead_id=lead_id,
                    organisation_id=doc["organisation_id"],
                    seller_id=seller_id,
                    source=source,
                    prospect=Prospect.model_validate(doc["prospect"]),
                    product_interest=doc.get("product_interest") or [],
                    accepted_at=self.now,
                    assigned_at=doc.get("assigned_at"),
                ),
                cause=self.cause,
            )
        else:
            assert verdict.reason_code is not None
            credit["return_reason"] = verdict.reason_code.value
            doc.update(
                status=LeadStatus.RETURNED, open=False, return_text=verdict.reason_text, **credit
            )
            self.uow.emit(
                LeadReturned(
                    lead_id=lead_id,
                    organisation_id=doc["organisation_id"],
                    seller_id=seller_id,
                    source=source,
                    reason_code=verdict.reason_code,
                    reason_text=verdict.reason_text,
                    returned_at=self.now,
                ),
                cause=self.cause,
            )
        return credit

    async def drain_queue(self, orgs: Iterable[str]) -> list[Document]:
        """Assign queued leads, oldest first, while eligible sellers have room. Returns
        the leads that changed (already written)."""
        # Only where some seller could take a lead now: a queue nobody can serve is not
        # re-read on every batch.
        org_list = sorted(
            org
            for org in set(orgs)
            if any(s.active and s.has_room() for s in self.roster.sellers(org))
        )
        if not org_list:
            return []
        db, session = self.uow.db, self.uow.session
        queued = (
            await db[LEADS]
            .find(
                {"organisation_id": {"$in": org_list}, "status": LeadStatus.QUEUED},
                session=session,
            )
            .sort("queued_at", 1)
            .limit(QUEUE_DRAIN_LIMIT)
            .to_list()
        )
        changed = [
            doc
            for doc in queued
            if self.assign_or_queue(doc, exclude=doc.get("sla_expired_sellers") or [])
        ]
        await save_leads(self.uow, changed)
        return changed


async def save_leads(uow: UnitOfWork, docs: list[Document]) -> None:
    if docs:
        await uow.db[LEADS].bulk_write(
            [ReplaceOne({"_id": d["_id"]}, d) for d in docs], ordered=False, session=uow.session
        )
