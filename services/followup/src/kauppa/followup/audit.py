"""The D15/D16 invariant audit: count customers without a next contact, with one past the
12-month deadline, or with one that never fired; repair them; publish the count.

Every question is index-bounded: an equality on null and a range on
``(active, next_contact_due_at)``, and a partial index holding only overshooting
customers; the cost follows the number of offenders, not the number of customers.

Repairs are the relationship's own verb (``CustomerRelationship.repair_schedule``). The
whole service's counts go to ``kauppa_followup_invariant_violations`` (``AuditGauge``,
reached from a runtime with ``audit_gauge(runtime)``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from weakref import WeakKeyDictionary

from kauppa.followup.commands import policy_of, settle
from kauppa.followup.domain import identities as ids
from kauppa.followup.domain.invariant import Violation
from kauppa.followup.domain.relationship import CustomerRelationship
from kauppa.followup.repository import AUDITS, CUSTOMERS, Relationships
from kauppa.followup.settings import FollowupSettings
from kauppa.servicekit.repository import Document
from kauppa.servicekit.runtime import ServiceRuntime
from kauppa.servicekit.unit_of_work import TIMERS, UnitOfWork
from prometheus_client import Gauge

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
    relationships = uow.repository(Relationships)
    customers = uow.collection(CUSTOMERS)
    found: dict[str, int] = {}
    offenders: dict[str, CustomerRelationship] = {}
    for violation, query in violation_queries(uow, settings).items():
        if organisation_id:
            query = {**query, "organisation_id": organisation_id}
        docs = await customers.find(query).limit(settings.audit_repair_limit).to_list()
        if violation == Violation.STUCK and docs:
            docs = await _without_live_timer(uow, docs)  # late (still scheduled) is not lost
        found[violation.value] = len(docs)
        for doc in docs:
            offenders.setdefault(doc["_id"], relationships.adopt(doc))
    repaired = 0
    if repair:
        run = uow.now.isoformat()
        for relationship in offenders.values():
            caused = relationship.repair_schedule(run, uow.now, policy)
            settle(uow, relationship, caused)
            repaired += 1
        await relationships.save()
    result = {
        "at": uow.now,
        "violations": found,
        "total": sum(found.values()),
        "repaired": repaired,
    }
    if organisation_id:
        result["organisation_id"] = organisation_id
    await uow.collection(AUDITS).insert_one(dict(result))
    return result


async def _without_live_timer(uow: UnitOfWork, docs: list[Document]) -> list[Document]:
    keys = {
        ids.contact_timer_key(d["next_contact"]["contact_id"]): d
        for d in docs
        if d.get("next_contact")
    }
    live = {
        t["_id"]
        async for t in uow.collection(TIMERS).find(
            {"_id": {"$in": list(keys)}, "state": "scheduled"}, {"_id": 1}
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


class AuditGauge:
    """``kauppa_followup_invariant_violations{violation}``: the whole service's latest
    audit (must be 0). Registered with the runtime's metrics once the runtime exists;
    reachable from the runtime through ``audit_gauge``."""

    def __init__(self) -> None:
        self._gauge: Gauge | None = None
        self._service = ""

    def register(self, runtime: ServiceRuntime) -> None:
        self._service = runtime.name
        self._gauge = Gauge(
            "kauppa_followup_invariant_violations",
            "Customers breaking 'a next contact, at most 12 months after the last' (must be 0)",
            ["service", "violation"],
            registry=runtime.metrics.registry,
        )
        _GAUGES[runtime] = self

    def record(self, violations: dict[str, int]) -> None:
        if self._gauge is not None:
            for name, count in violations.items():
                self._gauge.labels(self._service, name).set(count)


_GAUGES: WeakKeyDictionary[ServiceRuntime, AuditGauge] = WeakKeyDictionary()


def audit_gauge(runtime: ServiceRuntime) -> AuditGauge | None:
    """The audit gauge of a followup runtime (None for another runtime)."""
    return _GAUGES.get(runtime)
