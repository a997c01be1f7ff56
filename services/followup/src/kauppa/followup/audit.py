"""The D15/D16 invariant audit: count customers without a next contact, with one past the
12-month deadline, or with one that never fired; repair them; publish the count.

Every question is index-bounded: an equality on null and a range on
``(active, next_contact_due_at)``, and a partial index holding only overshooting
customers; the cost follows the number of offenders, not the number of customers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kauppa.followup.domain import identities as ids
from kauppa.followup.domain.invariant import CustomerSchedule, Violation, repaired_due_at
from kauppa.followup.domain.next_contact import NextContact
from kauppa.followup.relationships import policy_of, set_next_contact
from kauppa.followup.settings import FollowupSettings
from kauppa.followup.store import AUDITS, CUSTOMERS, BatchState
from kauppa.servicekit.unit_of_work import TIMERS, UnitOfWork

Document = dict[str, Any]
AUDIT = "invariant_audit"  # timer kind
AUDIT_TIMER_KEY = "audit:invariant"


def violation_queries(uow: UnitOfWork, settings: FollowupSettings) -> dict[Violation, Document]:
    stuck_before = uow.now - timedelta(minutes=settings.audit_stuck_grace_minutes)
    return {
        Violation.MISSING: {"active": True, "next_contact_due_at": None},
        Violation.BEYOND_DEADLINE: {"next_contact_overshoot_s": {"$gt": 0}, "active": True},
        Violation.STUCK: {"active": True, "next_contact_due_at": {"$lt": stuck_before}},
    }


async def run_audit(
    uow: UnitOfWork,
    settings: FollowupSettings,
    *,
    repair: bool,
    organisation_id: str | None = None,
) -> Document:
    """Find (and optionally repair) violations; the result is stored and returned. With
    ``organisation_id``, only that organisation's customers (a tenant's own audit, stored
    apart from the whole service's)."""
    policy = policy_of(settings)
    state = BatchState(uow)
    found: dict[str, int] = {}
    for violation, query in violation_queries(uow, settings).items():
        if organisation_id:
            query = {**query, "organisation_id": organisation_id}
        docs = (
            await uow.db[CUSTOMERS]
            .find(query, session=uow.session)
            .limit(settings.audit_repair_limit)
            .to_list()
        )
        if violation == Violation.STUCK and docs:
            docs = await _without_live_timer(uow, docs)  # late (still scheduled) is not lost
        found[violation.value] = len(docs)
        for doc in docs:
            state.adopt(doc)
    repaired = 0
    if repair:
        run = uow.now.isoformat()
        for customer in list(state.customers.values()):
            last = customer.get("last_contact_at") or customer.get("created_at") or uow.now
            schedule = CustomerSchedule(True, last, customer.get("next_contact_due_at"))
            due = repaired_due_at(schedule, uow.now, policy)
            scheduled = set_next_contact(
                state,
                customer,
                NextContact(due, defaulted=True),
                contact_id=ids.next_contact_id(f"repair:{run}", customer["_id"]),
                last_contact_at=last,
                policy=policy,
            )
            uow.emit(scheduled)
            repaired += 1
        await state.flush()
    result = {
        "at": uow.now,
        "violations": found,
        "total": sum(found.values()),
        "repaired": repaired,
    }
    if organisation_id:
        result["organisation_id"] = organisation_id
    await uow.db[AUDITS].insert_one(dict(result), session=uow.session)
    return result


async def _without_live_timer(uow: UnitOfWork, docs: list[Document]) -> list[Document]:
    keys = {
        ids.contact_timer_key(d["next_contact"]["contact_id"]): d
        for d in docs
        if d.get("next_contact")
    }
    live = {
        t["_id"]
        async for t in uow.db[TIMERS].find(
            {"_id": {"$in": list(keys)}, "state": "scheduled"}, {"_id": 1}, session=uow.session
        )
    }
    return [d for k, d in keys.items() if k not in live] + [
        d for d in docs if not d.get("next_contact")
    ]


async def run_audit_timer(uow: UnitOfWork, settings: FollowupSettings) -> Document:
    """The periodic audit: repair, then arm the next run."""
    result = await run_audit(uow, settings, repair=True)
    uow.schedule(
        AUDIT_TIMER_KEY,
        uow.now + timedelta(minutes=settings.audit_interval_minutes),
        AUDIT,
        {},
    )
    return result


async def latest_audit(uow_db: Any, organisation_id: str | None = None) -> Document | None:
    """The latest audit of the whole service, or of one organisation's customers."""
    doc = await uow_db[AUDITS].find_one(
        {"organisation_id": organisation_id}, sort=[("at", -1), ("_id", -1)]
    )
    if doc is not None:
        doc.pop("_id", None)
    return doc
