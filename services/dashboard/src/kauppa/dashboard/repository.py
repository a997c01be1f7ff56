"""The dashboard's persistence, in one place: the read models' collections and indexes,
the batch handler's reads and bulk writes (``ReadModels``, bound to the unit of work:
no ``session=``), the dead-letter desk's replay markers, and the questions ops asks of
the read models (``overview`` and its parts; each answer a JSON-able dict, the rules
(rates, percentiles, urgency) from ``domain``).

Why projections stay apart (``projections.py``): they are the pure event -> write
operations mapping, hundreds of lines unit-tested without a database; this module is
everything that touches MongoDB, so reading one never means reading the other."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kauppa.dashboard.domain import contacts as contact_rules
from kauppa.dashboard.domain.funnel import funnel
from kauppa.dashboard.domain.latency import summarise
from kauppa.dashboard.domain.periods import BEGINNING
from kauppa.dashboard.domain.quality import COUNTS, DIMENSIONS, quality_row, rank
from kauppa.servicekit.mongo import Indexes
from kauppa.servicekit.repository import BoundCollection, Document
from kauppa.servicekit.unit_of_work import UnitOfWork
from pymongo import ASCENDING, DESCENDING, IndexModel, UpdateMany, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

LEADS = "leads"
DEALS = "deals"
CUSTOMERS = "customers"
CONTACTS = "contacts"
SLA_BREACHES = "sla_breaches"
CONFIRMATION_FAILURES = "confirmation_failures"
FEEDBACK_CALLS = "feedback_calls"
PROBLEMS = "problems"
REFERRALS = "referrals"
CAMPAIGNS = "campaigns"
WEBHOOK_ALERTS = "webhook_alerts"
"""One row per disabling of a webhook subscription (``WebhookSubscriptionDisabled``)."""
ERASED_IDENTITIES = "erased_identities"
"""Digests of what erasures named (customer id, business id, email; see
``kauppa.servicekit.erasures``) and the organisations they were erased in: what a dead
letter is checked against before it is replayed."""
REPLAYS = "dlq_replays"
"""One marker per dead letter replayed (who, when, the request's claim token)."""

Write = tuple[str, UpdateOne | UpdateMany]
"""A read-model write: the collection and the operation (``projections.py`` makes them)."""


def upsert(collection: str, key: str, update: dict[str, Any]) -> Write:
    return collection, UpdateOne({"_id": key}, update, upsert=True)


INDEXES: tuple[Indexes, ...] = (
    Indexes(
        LEADS,
        (
            IndexModel([("organisation_id", ASCENDING), ("qualified_at", ASCENDING)]),
            IndexModel([("queued", ASCENDING), ("queued_since", ASCENDING)], sparse=True),
        ),
    ),
    Indexes(
        DEALS,
        (
            IndexModel([("organisation_id", ASCENDING), ("last_contact_at", ASCENDING)]),
            IndexModel([("organisation_id", ASCENDING), ("confirmed_at", ASCENDING)]),
            IndexModel([("customer_id", ASCENDING)]),
        ),
    ),
    Indexes(
        CONTACTS,
        (
            IndexModel([("customer_id", ASCENDING), ("state", ASCENDING)]),
            IndexModel([("organisation_id", ASCENDING), ("state", ASCENDING)]),
        ),
    ),
    Indexes(SLA_BREACHES, (IndexModel([("organisation_id", ASCENDING), ("at", DESCENDING)]),)),
    Indexes(
        CONFIRMATION_FAILURES,
        (IndexModel([("organisation_id", ASCENDING), ("failed_at", DESCENDING)]),),
    ),
    Indexes(CUSTOMERS, (IndexModel([("organisation_id", ASCENDING)]),)),
    Indexes(
        WEBHOOK_ALERTS, (IndexModel([("organisation_id", ASCENDING), ("disabled_at", DESCENDING)]),)
    ),
)


# ------------------------------------------------------------------ in a unit of work


async def _erased_among(
    collection: BoundCollection | AsyncCollection[Document], ids: set[str] | list[str]
) -> set[str]:
    """Those of ``ids`` whose row carries the erasure tombstone (``erased``)."""
    if not ids:
        return set()
    return set(await collection.distinct("_id", {"_id": {"$in": sorted(ids)}, "erased": True}))


class ReadModels:
    """The batch handler's reads and writes, in the batch's transaction
    (``uow.repository(ReadModels)``)."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    async def erased_customers(self, customer_ids: set[str]) -> set[str]:
        return await _erased_among(self.uow.collection(CUSTOMERS), customer_ids)

    async def erased_deals(self, deal_ids: set[str]) -> set[str]:
        return await _erased_among(self.uow.collection(DEALS), deal_ids)

    async def deals_of(self, customer_ids: set[str]) -> dict[str, set[str]]:
        """The stored deals of each customer (every customer a key)."""
        deals: dict[str, set[str]] = {c: set() for c in customer_ids}
        if customer_ids:
            async for d in self.uow.collection(DEALS).find(
                {"customer_id": {"$in": sorted(customer_ids)}}, {"customer_id": 1}
            ):
                deals[d["customer_id"]].add(d["_id"])
        return deals

    async def apply(self, writes: list[Write]) -> None:
        """One bulk write per collection, in the order the writes came."""
        per_collection: dict[str, list[UpdateOne | UpdateMany]] = {}
        for collection, op in writes:
            per_collection.setdefault(collection, []).append(op)
        for collection, ops in per_collection.items():
            # Ordered: a lead's assignment after its reassignment must land in that order.
            await self.uow.collection(collection).bulk_write(ops, ordered=True)


class Replays:
    """The dead-letter desk's replay markers in a command's transaction."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    async def marked(self, ids: list[str]) -> set[str]:
        found = self.uow.collection(REPLAYS).find({"_id": {"$in": ids}}, {"_id": 1})
        return {doc["_id"] async for doc in found}

    async def mark(self, markers: list[Document]) -> None:
        await self.uow.collection(REPLAYS).insert_many(markers)


# ------------------------------------------------------------------ outside one


async def replays(db: AsyncDatabase[Document], ids: list[str]) -> dict[str, Document]:
    """The replay markers of these dead letters, by id."""
    return {doc["_id"]: doc async for doc in db[REPLAYS].find({"_id": {"$in": ids}})}


async def claimed_by(db: AsyncDatabase[Document], ids: list[str], token: str) -> list[str]:
    """Those of ``ids`` whose marker holds the request's ``token``."""
    mine = db[REPLAYS].find({"_id": {"$in": ids}, "claim": token}, {"_id": 1})
    return [doc["_id"] async for doc in mine]


async def unmark(db: AsyncDatabase[Document], ids: list[str]) -> None:
    await db[REPLAYS].delete_many({"_id": {"$in": ids}})


async def erased_identities(db: AsyncDatabase[Document], identities: list[str]) -> list[Document]:
    """The kept erased identities among ``identities`` (with their organisations)."""
    return await db[ERASED_IDENTITIES].find({"_id": {"$in": identities}}).to_list()


async def erased_customers(db: AsyncDatabase[Document], customer_ids: list[str]) -> set[str]:
    return await _erased_among(db[CUSTOMERS], customer_ids)


# ------------------------------------------------------------------ what ops asks


@dataclass(frozen=True)
class View:
    """What one request looks at: an organisation (None: all), a period, and now."""

    organisation_id: str | None
    since: datetime
    now: datetime

    def match(self, **extra: Any) -> Document:
        m: Document = (
            {} if self.organisation_id is None else {"organisation_id": self.organisation_id}
        )
        m.update(extra)
        return m

    @property
    def whole_history(self) -> bool:
        return self.since <= BEGINNING


# The time a lead (a deal) reached each funnel stage, as the projections store it.
LEAD_STAGES: dict[str, str] = {
    "qualified": "qualified_at",
    "rejected_at_gate": "rejected_at",
    "linked_duplicate": "linked_at",
    "assigned": "assigned_at",
    "accepted": "accepted_at",
    "returned": "returned_at",
}
DEAL_STAGES: dict[str, str] = {
    "opened": "opened_at",
    "closed": "closed_at",
    "lost": "lost_at",
    "confirmed": "confirmed_at",
    "delivered": "delivered_at",
}
# Lead quality's counts (``domain.quality.COUNTS``), all from the lead's own document:
# its ``closed_at`` is set by the DealClosed of its deal.
QUALITY_STAGES: dict[str, str] = {
    count: {**LEAD_STAGES, "queued": "first_queued_at", "closed": "closed_at"}[count]
    for count in COUNTS
}


def _sums(stages: dict[str, str], counted: Callable[[str], Document]) -> Document:
    """``$group`` accumulators: per stage, the sum of ``counted(its time field)``."""
    return {stage: {"$sum": counted(field)} for stage, field in stages.items()}


def _in_period(field: str, since: datetime) -> Document:
    return {"$cond": [{"$gte": [f"${field}", since]}, 1, 0]}


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


async def _one(db: AsyncDatabase[Document], collection: str, pipeline: list[Document]) -> Document:
    cursor = await db[collection].aggregate(pipeline)
    docs = await cursor.to_list(length=1)
    return docs[0] if docs else {}


async def funnel_counts(db: AsyncDatabase[Document], view: View) -> dict[str, Any]:
    """Leads and deals that reached each stage within the period (each counted once)."""
    s = view.since

    def reached(stages: dict[str, str]) -> list[Document]:
        counted = _sums(stages, lambda field: _in_period(field, s))
        return [{"$match": view.match()}, {"$group": {"_id": None, **counted}}]

    leads, deals, feedback = await asyncio.gather(
        _one(db, LEADS, reached(LEAD_STAGES)),
        _one(db, DEALS, reached(DEAL_STAGES)),
        db[FEEDBACK_CALLS].count_documents(view.match(completed_at={"$gte": s})),
    )
    counts = {k: v for k, v in {**leads, **deals}.items() if k != "_id"}
    counts["feedback_done"] = feedback
    steps = funnel(counts)
    return {
        "steps": [
            {"stage": st.stage, "count": st.count, "of": st.of_stage, "percent": st.percent}
            for st in steps
        ],
        "linked_duplicate": counts.get("linked_duplicate", 0),
        "opened": counts.get("opened", 0),
    }


async def lead_quality(db: AsyncDatabase[Document], view: View) -> dict[str, Any]:
    """Per source, partner, list and booker: leads handed in during the period and what
    became of them (D2-D4)."""
    match = view.match() if view.whole_history else view.match(qualified_at={"$gte": view.since})

    def has(field: str) -> Document:
        return {"$cond": [{"$ifNull": [f"${field}", False]}, 1, 0]}

    counted = {
        **_sums(QUALITY_STAGES, has),
        "reasons": {"$push": "$return_reason"},
        "queue_reasons": {"$push": "$queue_reason"},
    }
    # One pass over the period's leads, grouped by each dimension of the source.
    facets = {
        name: [{"$group": {"_id": f"$source.{field}", **counted}}]
        for name, field in DIMENSIONS.items()
    }
    found = await _one(db, LEADS, [{"$match": match}, {"$facet": facets}])

    def ranked(groups: list[Document]) -> list[dict[str, Any]]:
        rows = [quality_row(d["_id"], d, d["reasons"], d["queue_reasons"]) for d in groups]
        return [r.as_dict() for r in rank(rows)]

    return {name: ranked(found.get(name, [])) for name in DIMENSIONS}


async def handoff_sla(db: AsyncDatabase[Document], view: View, limit: int = 10) -> dict[str, Any]:
    """SLA reminders and reassignments in the period; leads waiting with no seller; and
    verdicts overdue right now."""
    breaches = await (
        await db[SLA_BREACHES].aggregate(
            [
                {"$match": view.match(at={"$gte": view.since})},
                {"$group": {"_id": "$kind", "n": {"$sum": 1}}},
            ]
        )
    ).to_list(None)
    by_kind = {d["_id"]: d["n"] for d in breaches}
    recent = (
        await db[SLA_BREACHES]
        .find(view.match(at={"$gte": view.since}), {"_id": 0})
        .sort("at", DESCENDING)
        .limit(limit)
        .to_list(None)
    )
    queue_filter = view.match(queued=True)
    queued = await db[LEADS].count_documents(queue_filter)
    by_reason = await (
        await db[LEADS].aggregate(
            [{"$match": queue_filter}, {"$group": {"_id": "$queue_reason", "n": {"$sum": 1}}}]
        )
    ).to_list(None)
    oldest = (
        await db[LEADS]
        .find(queue_filter, {"queued_since": 1, "source": 1, "queue_reason": 1, "queue_detail": 1})
        .sort("queued_since", ASCENDING)
        .limit(limit)
        .to_list(None)
    )
    overdue_verdicts = await db[LEADS].count_documents(
        view.match(
            respond_by={"$lt": view.now},
            accepted_at=None,
            returned_at=None,
            queued=False,
        )
    )
    return {
        "reminders": by_kind.get("reminder", 0),
        "reassignments": by_kind.get("reassigned", 0),
        "unassigned_queue": queued,
        "queue_reasons": {
            (d["_id"] or "unknown"): d["n"]
            for d in sorted(by_reason, key=lambda d: (-d["n"], str(d["_id"])))
        },
        "overdue_verdicts": overdue_verdicts,
        "recent_breaches": [{k: _iso(v) for k, v in b.items()} for b in recent],
        "queue": [
            {
                "lead_id": d["_id"],
                "source": (d.get("source") or {}).get("system"),
                "reason": d.get("queue_reason"),
                "detail": d.get("queue_detail"),
                "queued_since": _iso(d.get("queued_since")),
                "waiting_hours": round((view.now - d["queued_since"]).total_seconds() / 3600, 1)
                if d.get("queued_since")
                else None,
            }
            for d in oldest
        ],
    }


async def stale_deals(
    db: AsyncDatabase[Document], view: View, days: int, limit: int = 10
) -> dict[str, Any]:
    """Open deals (not closed, not lost) without a contact for ``days`` (D5)."""
    cutoff = view.now - timedelta(days=days)
    flt = view.match(
        opened_at={"$ne": None},
        closed_at=None,
        lost_at=None,
        last_contact_at={"$lt": cutoff},
    )
    count, open_deals = await asyncio.gather(
        db[DEALS].count_documents(flt),
        db[DEALS].count_documents(
            view.match(opened_at={"$ne": None}, closed_at=None, lost_at=None)
        ),
    )
    docs = await db[DEALS].find(flt).sort("last_contact_at", ASCENDING).limit(limit).to_list(None)
    return {
        "days": days,
        "count": count,
        "open_deals": open_deals,
        "deals": [
            {
                "deal_id": d["_id"],
                "company": d.get("company"),
                "seller_id": d.get("seller_id"),
                "stage": d.get("stage"),
                "days_without_contact": (view.now - d["last_contact_at"]).days,
                "reminders": d.get("stale_reminders", 0),
            }
            for d in docs
        ],
    }


async def confirmations(db: AsyncDatabase[Document], view: View, limit: int = 10) -> dict[str, Any]:
    """Close -> confirmation sent latency (D11) and failures in the period."""
    sent = await (
        await db[DEALS].aggregate(
            [
                {"$match": view.match(confirmed_at={"$gte": view.since}, closed_at={"$ne": None})},
                {"$project": {"ms": {"$subtract": ["$confirmed_at", "$closed_at"]}}},
            ]
        )
    ).to_list(None)
    latency = summarise([d["ms"] / 1000 for d in sent])
    fail_filter = view.match(failed_at={"$gte": view.since})
    failures, failed_unsent, awaiting = await asyncio.gather(
        db[CONFIRMATION_FAILURES].count_documents(fail_filter),
        db[DEALS].count_documents(
            view.match(confirmation_failed_at={"$ne": None}, confirmed_at=None)
        ),
        db[DEALS].count_documents(
            view.match(closed_at={"$ne": None}, confirmed_at=None, confirmation_failed_at=None)
        ),
    )
    recent = (
        await db[CONFIRMATION_FAILURES]
        .find(fail_filter, {"_id": 0})
        .sort("failed_at", DESCENDING)
        .limit(limit)
        .to_list(None)
    )
    return {
        "latency": latency.as_dict(),
        "failures": failures,
        "failed_not_sent": failed_unsent,
        "awaiting": awaiting,
        "recent_failures": [{k: _iso(v) for k, v in f.items()} for f in recent],
    }


async def webhook_alerts(
    db: AsyncDatabase[Document], view: View, limit: int = 10
) -> dict[str, Any]:
    """Webhook subscriptions the webhooks service disabled in the period (they stopped
    sending; ops must fix the receiver and activate them): how many, the latest ones."""
    match = view.match(disabled_at={"$gte": view.since})
    count, recent = await asyncio.gather(
        db[WEBHOOK_ALERTS].count_documents(match),
        db[WEBHOOK_ALERTS]
        .find(match, {"_id": 0})
        .sort("disabled_at", DESCENDING)
        .limit(limit)
        .to_list(None),
    )
    return {"disabled": count, "recent": [{k: _iso(v) for k, v in a.items()} for a in recent]}


async def contacts_per_seller(
    db: AsyncDatabase[Document], view: View, overdue_after: timedelta
) -> dict[str, Any]:
    """Open contacts per seller of an organisation: upcoming, due, overdue (D13-D16)."""
    overdue_before = view.now - overdue_after
    cursor = await db[CONTACTS].aggregate(
        [
            {"$match": view.match(state={"$in": list(contact_rules.OPEN_STATES)})},
            {
                "$group": {
                    # Seller ids are per organisation: one row per (organisation, seller).
                    "_id": {
                        "organisation_id": "$organisation_id",
                        "seller_id": {"$ifNull": ["$seller_id", "unassigned"]},
                    },
                    "upcoming": {"$sum": {"$cond": [{"$gt": ["$due_at", view.now]}, 1, 0]}},
                    "overdue": {"$sum": {"$cond": [{"$lt": ["$due_at", overdue_before]}, 1, 0]}},
                    "open": {"$sum": 1},
                }
            },
            {"$sort": {"overdue": -1, "_id.seller_id": 1, "_id.organisation_id": 1}},
        ]
    )
    rows = []
    for d in await cursor.to_list(None):
        due = d["open"] - d["upcoming"] - d["overdue"]
        rows.append(
            {
                "organisation_id": d["_id"].get("organisation_id"),
                "seller_id": d["_id"]["seller_id"],
                "upcoming": d["upcoming"],
                "due": due,
                "overdue": d["overdue"],
            }
        )
    return {
        "sellers": rows,
        "upcoming": sum(r["upcoming"] for r in rows),
        "due": sum(r["due"] for r in rows),
        "overdue": sum(r["overdue"] for r in rows),
        "overdue_after_hours": overdue_after.total_seconds() / 3600,
    }


async def customers_without_next_contact(
    db: AsyncDatabase[Document], view: View, grace: timedelta, limit: int = 10
) -> dict[str, Any]:
    """D15: every customer always has a next contact; this must be 0."""
    cursor = await db[CUSTOMERS].aggregate(
        [
            {"$match": view.match(erased={"$ne": True}, first_seen_at={"$lt": view.now - grace})},
            {
                "$lookup": {
                    "from": CONTACTS,
                    "let": {"c": "$_id"},
                    "pipeline": [
                        {
                            "$match": {
                                "$expr": {"$eq": ["$customer_id", "$$c"]},
                                "state": {"$in": list(contact_rules.OPEN_STATES)},
                            }
                        },
                        {"$limit": 1},
                    ],
                    "as": "open",
                }
            },
            {"$match": {"open": {"$size": 0}}},
            {
                "$facet": {
                    "count": [{"$count": "n"}],
                    "sample": [{"$limit": limit}, {"$project": {"seller_id": 1}}],
                }
            },
        ]
    )
    docs = await cursor.to_list(None)
    facet = docs[0] if docs else {"count": [], "sample": []}
    customers = await db[CUSTOMERS].count_documents(view.match(erased={"$ne": True}))
    return {
        "count": facet["count"][0]["n"] if facet["count"] else 0,
        "customers": customers,
        "sample": [
            {"customer_id": d["_id"], "seller_id": d.get("seller_id")} for d in facet["sample"]
        ],
    }


async def relationship_facts(db: AsyncDatabase[Document], view: View) -> dict[str, Any]:
    """Small counters around the relationship: open problems (D14), referrals (D8, D13)."""
    open_problems, referrals = await asyncio.gather(
        db[PROBLEMS].count_documents(view.match(reported_at={"$ne": None}, resolved_at=None)),
        db[REFERRALS].count_documents(view.match(received_at={"$gte": view.since})),
    )
    return {"open_problems": open_problems, "referrals": referrals}


async def overview(
    db: AsyncDatabase[Document],
    view: View,
    *,
    stale_days: int,
    overdue_after: timedelta,
    next_contact_grace: timedelta,
) -> dict[str, Any]:
    """Everything the dashboard's business sections show, in one answer."""
    parts = await asyncio.gather(
        funnel_counts(db, view),
        lead_quality(db, view),
        handoff_sla(db, view),
        stale_deals(db, view, stale_days),
        confirmations(db, view),
        contacts_per_seller(db, view, overdue_after),
        customers_without_next_contact(db, view, next_contact_grace),
        relationship_facts(db, view),
        webhook_alerts(db, view),
    )
    names = (
        "funnel",
        "quality",
        "handoff_sla",
        "stale_deals",
        "confirmations",
        "contacts",
        "without_next_contact",
        "relationship",
        "webhook_alerts",
    )
    return {
        "organisation_id": view.organisation_id,
        "since": view.since.isoformat(),
        "now": view.now.isoformat(),
        **dict(zip(names, parts, strict=True)),
    }
