"""The webhooks service's persistence, in one place: its collections and indexes, the
unit-of-work repository the handler and the commands use (``Webhooks``: every call in
the transaction, no ``session=``), and the sender loop's own queries (module-level
functions on the database: the sender works outside any transaction, see
``sender.py``). The MongoDB documents are described in the README's "Stores"."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from kauppa.servicekit.erasures import identities_in_bytes
from kauppa.servicekit.mongo import Indexes
from kauppa.servicekit.repository import Document
from kauppa.servicekit.unit_of_work import UnitOfWork
from pymongo import ASCENDING, IndexModel, ReturnDocument, UpdateMany, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

SUBSCRIPTIONS = "subscriptions"  # one per subscription: URL, event types, filters, secrets
LEAD_SOURCES = "lead_sources"  # lead_id -> its source, for events that do not carry it
DELIVERIES = "deliveries"  # one per (subscription, event): state, attempts, the body
ATTEMPTS = "attempts"  # one per HTTP attempt: status, latency, error

LEAD_SOURCE_DAYS = 400  # deals can run for months before they close or are lost

# Subscriptions that still collect deliveries (a paused or disabled one sends them later).
COLLECTING = ("active", "paused", "disabled")


def indexes(retention_days: int) -> tuple[Indexes, ...]:
    return (
        Indexes(
            SUBSCRIPTIONS,
            (IndexModel([("organisation_id", ASCENDING), ("state", ASCENDING)], name="org"),),
        ),
        Indexes(
            LEAD_SOURCES,
            (
                IndexModel(
                    [("at", ASCENDING)],
                    name="lead_source_ttl",
                    expireAfterSeconds=LEAD_SOURCE_DAYS * 86400,
                ),
            ),
        ),
        Indexes(
            DELIVERIES,
            (
                # The undelivered, per subscription and key in order: the head of each
                # key is the only one that may be sent.
                IndexModel(
                    [("subscription_id", ASCENDING), ("key", ASCENDING), ("seq", ASCENDING)],
                    name="open_heads",
                    partialFilterExpression={"open": True},
                ),
                IndexModel(
                    [("subscription_id", ASCENDING), ("created_at", ASCENDING)],
                    name="by_subscription",
                ),
                # Due candidates in order.
                IndexModel(
                    [("subscription_id", ASCENDING), ("seq", ASCENDING)],
                    name="open_by_seq",
                    partialFilterExpression={"open": True},
                ),
                IndexModel([("claimed_by", ASCENDING)], name="claim", sparse=True),
                # Delivered ones leave after the retention (``expires_at`` set then).
                IndexModel([("expires_at", ASCENDING)], name="delivered_ttl", expireAfterSeconds=0),
            ),
        ),
        Indexes(
            ATTEMPTS,
            (
                IndexModel([("delivery_id", ASCENDING), ("at", ASCENDING)], name="delivery"),
                IndexModel([("subscription_id", ASCENDING), ("at", ASCENDING)], name="sub"),
                IndexModel(
                    [("at", ASCENDING)],
                    name="attempts_ttl",
                    expireAfterSeconds=retention_days * 86400,
                ),
            ),
        ),
    )


# ----------------------------------------------------------------- in a unit of work


class Webhooks:
    """Subscriptions, lead sources and deliveries in one unit of work's transaction
    (``uow.repository(Webhooks)``)."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow

    # -------------------------------------------------------------- event fan-out
    async def remember_sources(self, sources: Mapping[str, Document]) -> None:
        """Upsert each lead's source (lead id -> organisation, system, partner, at)."""
        if sources:
            await self.uow.collection(LEAD_SOURCES).bulk_write(
                [UpdateOne({"_id": k}, {"$set": v}, upsert=True) for k, v in sources.items()],
                ordered=False,
            )

    async def lead_sources(self, lead_ids: Iterable[str]) -> dict[str, tuple[str, str | None]]:
        """The remembered (system, partner) of these leads, those known."""
        ids = list(lead_ids)
        if not ids:
            return {}
        found = self.uow.collection(LEAD_SOURCES).find({"_id": {"$in": ids}})
        return {d["_id"]: (d["system"], d.get("partner")) async for d in found}

    async def collecting(self, organisation_ids: Iterable[str]) -> list[Document]:
        """The organisations' subscriptions that collect deliveries: id, organisation,
        event types and filters."""
        return await (
            self.uow.collection(SUBSCRIPTIONS)
            .find(
                {
                    "organisation_id": {"$in": list(organisation_ids)},
                    "state": {"$in": list(COLLECTING)},
                },
                {"organisation_id": 1, "event_types": 1, "filters": 1},
            )
            .to_list()
        )

    async def add_deliveries(self, deliveries: Sequence[tuple[str, Document]]) -> None:
        """Insert the deliveries (id, document) in order; one already there is kept as
        it is (a batch taken again after a crash)."""
        if deliveries:
            await self.uow.collection(DELIVERIES).bulk_write(
                [UpdateOne({"_id": k}, {"$setOnInsert": d}, upsert=True) for k, d in deliveries],
                ordered=True,
            )

    # -------------------------------------------------------------- subscriptions
    async def subscription(self, sub_id: str) -> Document | None:
        return await self.uow.collection(SUBSCRIPTIONS).find_one({"_id": sub_id})

    async def add_subscription(self, doc: Document) -> None:
        await self.uow.collection(SUBSCRIPTIONS).insert_one(doc)

    async def set_secrets(self, sub_id: str, secrets: list[Document]) -> None:
        await self.uow.collection(SUBSCRIPTIONS).update_one(
            {"_id": sub_id}, {"$set": {"secrets": secrets}}
        )

    async def set_state(self, sub_id: str, change: Document, unset: Document) -> None:
        update: Document = {"$set": change}
        if unset:
            update["$unset"] = unset
        await self.uow.collection(SUBSCRIPTIONS).update_one({"_id": sub_id}, update)

    async def disable(self, sub_id: str, now: datetime, reason: str) -> bool:
        """An active subscription becomes ``disabled``; False when it was not active."""
        changed = await self.uow.collection(SUBSCRIPTIONS).update_one(
            {"_id": sub_id, "state": "active"},
            {"$set": {"state": "disabled", "disabled_at": now, "disabled_reason": reason}},
        )
        return bool(changed.modified_count)

    # -------------------------------------------------------------- deliveries
    async def erase_deliveries(self, organisation_id: str, names: set[str]) -> int:
        """Drop the body of every delivery of the organisation whose event names one
        of ``names`` (erased identities); close the undelivered ones as ``erased``."""
        deliveries = self.uow.collection(DELIVERIES)
        found = [
            doc["_id"]
            async for doc in deliveries.find(
                {"organisation_id": organisation_id, "body": {"$ne": None}}, {"body": 1}
            )
            if identities_in_bytes(doc["body"].encode()) & names
        ]
        if found:
            await deliveries.update_many(
                {"_id": {"$in": found}},
                [
                    {
                        "$set": {
                            "state": {"$cond": ["$open", "erased", "$state"]},
                            "open": False,
                            "body": None,
                            "erased": True,
                        }
                    }
                ],
            )
        return len(found)

    async def send_waiting_now(self, sub_id: str) -> None:
        """What waited (paused, disabled, backing off) is due now."""
        await self.uow.collection(DELIVERIES).update_many(
            {"subscription_id": sub_id, "open": True, "state": "pending"},
            {"$set": {"next_attempt_at": self.uow.now}},
        )

    async def redeliver_one(self, sub_id: str, delivery_id: str) -> bool:
        """Send one delivery again (not while it is being delivered); False: none such."""
        result = await self.uow.collection(DELIVERIES).update_one(
            {
                "_id": delivery_id,
                "subscription_id": sub_id,
                "state": {"$ne": "delivering"},
                "erased": {"$ne": True},
            },
            _redeliver_update(self.uow.now),
        )
        return bool(result.matched_count)

    async def redeliver_range(
        self, sub_id: str, since: datetime, until: datetime, *, only_failed: bool
    ) -> int:
        """Send again the deliveries created in [since, until) not being delivered."""
        query: Document = {
            "subscription_id": sub_id,
            "created_at": {"$gte": since, "$lt": until},
            "state": {"$ne": "delivering"},
            "erased": {"$ne": True},  # an erased delivery has no body to send
        }
        if only_failed:
            query["last_error"] = {"$ne": None}
        result = await self.uow.collection(DELIVERIES).update_many(
            query, _redeliver_update(self.uow.now)
        )
        return result.modified_count


def _redeliver_update(now: datetime) -> Document:
    return {
        "$set": {"state": "pending", "open": True, "next_attempt_at": now, "redelivered_at": now},
        "$unset": {"expires_at": "", "claimed_by": "", "claim_until": ""},
    }


# ------------------------------------------------------------------ reads (the API)


async def subscriptions(
    db: AsyncDatabase[Document], query: Document | None = None, *, oldest_first: bool = False
) -> list[Document]:
    cursor = db[SUBSCRIPTIONS].find(query or {})
    if oldest_first:
        cursor = cursor.sort("created_at", 1)
    return await cursor.to_list()


async def subscription(db: AsyncDatabase[Document], sub_id: str) -> Document | None:
    return await db[SUBSCRIPTIONS].find_one({"_id": sub_id})


async def deliveries_of(
    db: AsyncDatabase[Document], sub_id: str, state: str | None, limit: int
) -> list[Document]:
    """A subscription's deliveries, newest first (optionally in one state)."""
    query: Document = {"subscription_id": sub_id}
    if state:
        query["state"] = state
    return await db[DELIVERIES].find(query).sort("created_at", -1).limit(limit).to_list()


async def delivery(db: AsyncDatabase[Document], sub_id: str, delivery_id: str) -> Document | None:
    return await db[DELIVERIES].find_one({"_id": delivery_id, "subscription_id": sub_id})


async def attempts_of(db: AsyncDatabase[Document], delivery_id: str) -> list[Document]:
    return await db[ATTEMPTS].find({"delivery_id": delivery_id}).sort("at", 1).to_list()


async def backlog(db: AsyncDatabase[Document], sub_ids: list[str]) -> dict[str, Document]:
    """Per subscription: its undelivered deliveries (``backlog``) and the oldest one's
    creation (``oldest``)."""
    return {
        row["_id"]: row
        async for row in await db[DELIVERIES].aggregate(
            [
                {"$match": {"open": True, "subscription_id": {"$in": sub_ids}}},
                {
                    "$group": {
                        "_id": "$subscription_id",
                        "backlog": {"$sum": 1},
                        "oldest": {"$min": "$created_at"},
                    }
                },
            ]
        )
    }


# ------------------------------------------------------------------ the sender's


def claimable(now: datetime) -> Document:
    """Deliveries that may be claimed: pending and due, or their lease over."""
    return {
        "$or": [
            {"state": "pending", "next_attempt_at": {"$lte": now}},
            {"state": "delivering", "claim_until": {"$lt": now}},
        ]
    }


def followers(doc: Document) -> Document:
    """The pending deliveries after ``doc`` in its key."""
    return {
        "subscription_id": doc["subscription_id"],
        "key": doc["key"],
        "open": True,
        "state": "pending",
        "seq": {"$gt": doc["seq"]},
    }


async def active_subscriptions(db: AsyncDatabase[Document]) -> list[Document]:
    return await db[SUBSCRIPTIONS].find({"state": "active"}).to_list()


async def due_candidates(
    db: AsyncDatabase[Document], sub_id: str, now: datetime, limit: int
) -> list[Document]:
    """Up to ``limit`` claimable deliveries of the subscription in ``seq`` order (key
    and seq only)."""
    return await (
        db[DELIVERIES]
        .find({"subscription_id": sub_id, "open": True, **claimable(now)}, {"key": 1, "seq": 1})
        .sort("seq", 1)
        .limit(limit)
        .to_list()
    )


async def oldest_open(db: AsyncDatabase[Document], sub_id: str, keys: list[str]) -> dict[str, int]:
    """Per key: the ``seq`` of its oldest undelivered delivery (the key's head)."""
    return {
        row["_id"]: row["seq"]
        async for row in await db[DELIVERIES].aggregate(
            [
                {"$match": {"subscription_id": sub_id, "open": True, "key": {"$in": keys}}},
                {"$group": {"_id": "$key", "seq": {"$min": "$seq"}}},
            ]
        )
    }


async def claim(
    db: AsyncDatabase[Document], ids: list[str], token: str, now: datetime, lease_until: datetime
) -> list[Document]:
    """Claim the claimable ones of ``ids`` under ``token`` (``delivering``, one more
    attempt; ``resumed`` when its lease had ended); returns those won, in ``seq`` order."""
    await db[DELIVERIES].update_many(
        {"_id": {"$in": ids}, "open": True, **claimable(now)},
        [
            {
                "$set": {
                    "state": "delivering",
                    "claimed_by": token,
                    "claim_until": lease_until,
                    "last_attempt_at": now,
                    "attempts": {"$add": [{"$ifNull": ["$attempts", 0]}, 1]},
                    "resumed": {"$eq": ["$state", "delivering"]},
                }
            }
        ],
    )
    return await db[DELIVERIES].find({"claimed_by": token}).sort("seq", 1).to_list()


def delivered_writes(
    doc: Document, status: int | None, now: datetime, retention: timedelta
) -> list[UpdateOne | UpdateMany]:
    """A delivery answered 2xx: ``delivered``, kept for the retention; the key's
    followers held back behind it (after a retry or a resume) may go now."""
    writes: list[UpdateOne | UpdateMany] = [
        UpdateOne(
            {"_id": doc["_id"], "state": "delivering"},
            {
                "$set": {
                    "state": "delivered",
                    "delivered_at": now,
                    "last_status": status,
                    "last_error": None,
                    "expires_at": now + retention,
                },
                "$unset": {"open": "", "claimed_by": "", "claim_until": "", "resumed": ""},
            },
        )
    ]
    if doc["attempts"] > 1 or doc.get("resumed"):
        writes.append(
            UpdateMany(
                {**followers(doc), "held": True},
                {"$set": {"next_attempt_at": now}, "$unset": {"held": ""}},
            )
        )
    return writes


def retry_writes(
    doc: Document, token: str, status: int | None, error: str | None, retry_at: datetime
) -> list[UpdateOne | UpdateMany]:
    """A failed attempt: ``pending`` again at ``retry_at``; the key's followers cannot go
    before it, so they are kept out of the due candidates (they would crowd out other
    keys' heads) until it is delivered."""
    return [
        UpdateOne(
            {"_id": doc["_id"], "claimed_by": token},
            {
                "$set": {
                    "state": "pending",
                    "next_attempt_at": retry_at,
                    "last_status": status,
                    "last_error": error,
                },
                "$unset": {"claimed_by": "", "claim_until": ""},
            },
        ),
        UpdateMany(
            {**followers(doc), "next_attempt_at": {"$lt": retry_at}},
            {"$set": {"next_attempt_at": retry_at, "held": True}},
        ),
    ]


async def record_outcomes(
    db: AsyncDatabase[Document], attempts: list[Document], writes: list[UpdateOne | UpdateMany]
) -> None:
    """The attempts in one insert, the deliveries' outcomes in one bulk write."""
    await db[ATTEMPTS].insert_many(attempts, ordered=False)
    await db[DELIVERIES].bulk_write(writes, ordered=False)


async def note_successes(
    db: AsyncDatabase[Document], sub_id: str, now: datetime, count: int, *, end_streak: bool = True
) -> None:
    """``count`` more deliveries answered 2xx; the last success is now (and a failing
    streak, if any, is over)."""
    update: Document = {"$set": {"last_success_at": now}, "$inc": {"delivered": count}}
    if end_streak:
        update["$unset"] = {"failing_since": ""}
    await db[SUBSCRIPTIONS].update_one({"_id": sub_id}, update)


async def note_failure(
    db: AsyncDatabase[Document], sub_id: str, now: datetime, error: str | None
) -> Document | None:
    """A failure starts (or extends) the subscription's failing streak; the subscription
    after it (None: gone)."""
    return await db[SUBSCRIPTIONS].find_one_and_update(
        {"_id": sub_id},
        [
            {
                "$set": {
                    "failing_since": {"$ifNull": ["$failing_since", now]},
                    "last_failure_at": now,
                    "last_error": error,
                }
            }
        ],
        return_document=ReturnDocument.AFTER,
    )
