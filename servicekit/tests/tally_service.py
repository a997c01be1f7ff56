"""A minimal service built on the kit, for the kit's own tests: count each lead, emit one
event per lead, and fire a timer per lead that emits a reminder."""

from __future__ import annotations

from datetime import timedelta

from kauppa.contracts import Envelope, HandoffReminderDue, LeadQualified, LeadRejected
from kauppa.servicekit.emits import emits
from kauppa.servicekit.pipeline import Handlers
from kauppa.servicekit.timers import DueTimer
from kauppa.servicekit.unit_of_work import UnitOfWork
from pymongo import UpdateOne

handlers = Handlers()


@handlers.on_batch(LeadQualified, emits=[LeadRejected])
async def tally(batch: list[Envelope], uow: UnitOfWork) -> None:
    await uow.db["tally"].bulk_write(
        [UpdateOne({"_id": e.event.lead_id}, {"$inc": {"n": 1}}, upsert=True) for e in batch],
        session=uow.session,
    )
    for env in batch:
        lead = env.event
        assert isinstance(lead, LeadQualified)
        if lead.notes == "explode":
            raise ValueError("this lead makes the handler fail")
        uow.emit(
            LeadRejected(
                lead_id=lead.lead_id,
                organisation_id=lead.organisation_id,
                source=lead.source,
                problems=["tally"],
                rejected_at=uow.now,
            ),
            cause=env,
        )
        if lead.notes == "timer":
            uow.schedule(
                f"remind:{lead.lead_id}",
                uow.now + timedelta(hours=1),
                "remind",
                {"lead_id": lead.lead_id, "org": lead.organisation_id},
            )


@emits(HandoffReminderDue)
async def remind(timers: list[DueTimer], uow: UnitOfWork) -> None:
    for t in timers:
        await uow.db["reminded"].update_one(
            {"_id": t.key},
            {"$inc": {"n": 1}, "$set": {"lateness": t.lateness.total_seconds()}},
            upsert=True,
            session=uow.session,
        )
        uow.emit(
            HandoffReminderDue(
                lead_id=t.payload["lead_id"],
                organisation_id=t.payload["org"],
                seller_id="nobody",
                assigned_at=t.due_at,
                respond_by=t.due_at,
                reminded_at=t.fired_at,
            )
        )


TIMER_HANDLERS = {"remind": remind}
