"""D17 segment campaigns: one ContactDue per matching customer, created in throttled
steps (a durable timer per step), idempotent by campaign id, with progress on record."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from kauppa.contracts.events.customers import (
    ContactKind,
    SegmentCampaignCompleted,
    SegmentCampaignStarted,
    SegmentCriteria,
)
from kauppa.followup.domain import identities as ids
from kauppa.followup.domain.relationship import UNASSIGNED, ScheduledContact, contact_timer
from kauppa.followup.domain.segments import segment_filter, spread_due_at
from kauppa.followup.repository import CAMPAIGNS, CONTACTS, CUSTOMERS, contact_document
from kauppa.followup.settings import FollowupSettings
from kauppa.servicekit.repository import Document
from kauppa.servicekit.unit_of_work import UnitOfWork
from pymongo import ASCENDING, UpdateOne

STEP = "campaign_step"  # timer kind


def step_timer_key(campaign_id: str) -> str:
    return f"campaign-step:{campaign_id}"


def progress(doc: Document) -> Document:
    return {
        "campaign_id": doc["_id"],
        "organisation_id": doc["organisation_id"],
        "reason": doc["reason"],
        "state": doc["state"],
        "matched": doc["matched"],
        "scheduled": doc["scheduled"],
        "fired": doc["fired"],
        "cancelled": doc.get("cancelled", 0),
        "due_from": doc["due_from"],
        "due_until": doc["due_until"],
        "started_at": doc["started_at"],
        "completed_at": doc.get("completed_at"),
    }


async def start_campaign(
    uow: UnitOfWork,
    *,
    campaign_id: str,
    organisation_id: str,
    criteria: SegmentCriteria,
    reason: str,
    due_from: datetime,
    due_until: datetime,
) -> tuple[Document, bool]:
    """Start once per campaign id; a repeat returns the campaign as it stands."""
    existing = await uow.collection(CAMPAIGNS).find_one({"_id": campaign_id})
    if existing is not None:
        return progress(existing), False
    query = segment_filter(organisation_id, criteria)
    matched = await uow.collection(CUSTOMERS).count_documents(query)
    doc = {
        "_id": campaign_id,
        "organisation_id": organisation_id,
        "criteria": criteria.model_dump(mode="json"),
        "reason": reason,
        "due_from": due_from,
        "due_until": max(due_until, due_from),
        "matched": matched,
        "scheduled": 0,
        "fired": 0,
        "cursor": None,
        "state": "scheduling",
        "started_at": uow.now,
    }
    await uow.collection(CAMPAIGNS).insert_one(doc)
    uow.emit(
        SegmentCampaignStarted(
            campaign_id=campaign_id,
            organisation_id=organisation_id,
            criteria=criteria,
            reason=reason,
            due_from=due_from,
            due_until=doc["due_until"],
            matched_customers=matched,
            started_at=uow.now,
        )
    )
    uow.schedule(step_timer_key(campaign_id), uow.now, STEP, {"campaign_id": campaign_id})
    return progress(doc), True


async def run_step(uow: UnitOfWork, campaign_id: str, settings: FollowupSettings) -> None:
    """Schedule the next ``campaign_step_size`` matching customers' contacts, then pause
    (the throttle) before the next step."""
    campaign = await uow.collection(CAMPAIGNS).find_one({"_id": campaign_id})
    if campaign is None or campaign["state"] != "scheduling":
        return
    query = segment_filter(campaign["organisation_id"], SegmentCriteria(**campaign["criteria"]))
    if campaign["cursor"] is not None:
        query["_id"] = {"$gt": campaign["cursor"]}
    size = settings.campaign_step_size
    customers = await (
        uow.collection(CUSTOMERS)
        .find(query, {"_id": 1, "organisation_id": 1, "seller_id": 1})
        .sort("_id", ASCENDING)
        .limit(size)
        .to_list()
    )
    total = max(campaign["matched"], campaign["scheduled"] + len(customers))
    ops = []
    for i, customer in enumerate(customers):
        contact_id = ids.campaign_contact_id(campaign_id, customer["_id"])
        due = spread_due_at(
            campaign["scheduled"] + i, total, campaign["due_from"], campaign["due_until"]
        )
        contact = ScheduledContact(
            contact_id=contact_id,
            customer_id=customer["_id"],
            organisation_id=customer["organisation_id"],
            seller_id=customer.get("seller_id") or UNASSIGNED,
            kind=ContactKind.CAMPAIGN.value,
            due_at=due,
            scheduled_at=uow.now,
            extra={"campaign_id": campaign_id, "reason": campaign["reason"]},
        )
        doc = contact_document(contact)
        ops.append(UpdateOne({"_id": contact_id}, {"$setOnInsert": doc}, upsert=True))
        uow.timers.append(
            contact_timer(contact, campaign_id=campaign_id, reason=campaign["reason"])
        )
    if ops:
        await uow.collection(CONTACTS).bulk_write(ops, ordered=False)
    done = len(customers) < size
    changes: Document = {
        "scheduled": campaign["scheduled"] + len(customers),
        "cursor": customers[-1]["_id"] if customers else campaign["cursor"],
    }
    if done:
        changes["state"] = "scheduled"
    else:
        uow.schedule(
            step_timer_key(campaign_id),
            uow.now + timedelta(seconds=settings.campaign_step_interval_seconds),
            STEP,
            {"campaign_id": campaign_id},
        )
    await uow.collection(CAMPAIGNS).update_one({"_id": campaign_id}, {"$set": changes})
    if done:
        await complete_finished(uow, [campaign_id])


async def count_outcomes(
    uow: UnitOfWork,
    fired: Mapping[str, int] | None = None,
    cancelled: Mapping[str, int] | None = None,
) -> None:
    """Campaign contacts that fired or were cancelled (an erasure) count towards their
    campaign's completion: one counter update per campaign, then the completion check."""
    fired, cancelled = fired or {}, cancelled or {}
    touched = sorted(set(fired) | set(cancelled))
    if not touched:
        return

    def counts(c: str) -> dict[str, int]:
        return {
            k: n for k, n in (("fired", fired.get(c, 0)), ("cancelled", cancelled.get(c, 0))) if n
        }

    await uow.collection(CAMPAIGNS).bulk_write(
        [UpdateOne({"_id": c}, {"$inc": counts(c)}) for c in touched]
    )
    await complete_finished(uow, touched)


async def complete_finished(uow: UnitOfWork, campaign_ids: list[str]) -> None:
    """A campaign is complete when every matching customer's ContactDue has gone out."""
    async for c in uow.collection(CAMPAIGNS).find(
        {"_id": {"$in": campaign_ids}, "state": "scheduled"}
    ):
        if c["fired"] + c.get("cancelled", 0) < c["scheduled"]:  # cancelled: erased
            continue
        await uow.collection(CAMPAIGNS).update_one(
            {"_id": c["_id"]}, {"$set": {"state": "completed", "completed_at": uow.now}}
        )
        uow.emit(
            SegmentCampaignCompleted(
                campaign_id=c["_id"],
                organisation_id=c["organisation_id"],
                contacts_created=c["scheduled"],
                completed_at=uow.now,
            )
        )
