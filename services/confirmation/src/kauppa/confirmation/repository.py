"""The confirmation service's persistence: its collections, their indexes, and the
mapping between a ``confirmations`` document and the ``Confirmation`` aggregate.

- ``Confirmations`` (``uow.repository(Confirmations)``): load and save confirmations in
  a unit of work's transaction (handlers, commands, erasure, the sender's record step);
- ``ConfirmationReads``: the API's reads, outside any transaction;
- ``SenderQueue``: the SMTP sender's claim and lease queries (outside transactions:
  the SMTP conversation must not hold one open);
- ``carry_out``: a verb's effects into the same unit of work (outbox, timers).

A document is the aggregate's stored fields under ``_id`` = ``deal_id:vN``; a verb's
changes are written as ``$set``/``$unset`` of exactly those fields.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kauppa.confirmation.domain.confirmation import Confirmation
from kauppa.confirmation.domain.delivery_attempts import SUPERSEDABLE, ConfirmationState
from kauppa.contracts import Envelope
from kauppa.servicekit.http import cached_replies_update
from kauppa.servicekit.mongo import Indexes, equals_ignoring_case
from kauppa.servicekit.repository import Document
from kauppa.servicekit.unit_of_work import IDEMPOTENCY, Effects, UnitOfWork
from pymongo import ASCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

CONFIRMATIONS = "confirmations"  # one document per (deal, version)
POLICIES = "policies"  # per-organisation send policy set through the ops API
ERASURES = "erasures"  # customer_id of each erased customer (no personal data)

INDEXES = (
    Indexes(
        CONFIRMATIONS,
        (
            IndexModel([("state", ASCENDING), ("next_attempt_at", ASCENDING)], name="due"),
            IndexModel([("deal_id", ASCENDING), ("version", ASCENDING)], name="deal"),
            IndexModel([("claimed_by", ASCENDING)], name="claim", sparse=True),
            IndexModel(
                [("copy_state", ASCENDING), ("copy_next_attempt_at", ASCENDING)],
                name="seller_copy_due",
                sparse=True,
            ),
            IndexModel([("copy_claimed_by", ASCENDING)], name="seller_copy_claim", sparse=True),
            # Seller ids are per organisation: (organisation, seller), never a seller alone.
            IndexModel(
                [("organisation_id", ASCENDING), ("seller_id", ASCENDING), ("state", ASCENDING)],
                name="organisation_seller_state",
            ),
            IndexModel([("content.customer_id", ASCENDING)], name="customer"),
            IndexModel(
                [("organisation_id", ASCENDING), ("recipient", ASCENDING)], name="recipient"
            ),
        ),
        retired=("seller_state",),  # (seller_id, state): across organisations
    ),
)


def from_document(doc: Mapping[str, Any]) -> Confirmation:
    return Confirmation(doc["_id"], {k: v for k, v in doc.items() if k != "_id"})


def update_of(confirmation: Confirmation) -> Document:
    """The verbs' changes since it was loaded, as one MongoDB update."""
    update: Document = {}
    if confirmation.changes:
        update["$set"] = dict(confirmation.changes)
    if confirmation.removed:
        update["$unset"] = {name: "" for name in sorted(confirmation.removed)}
    return update


def saved(confirmation: Confirmation) -> None:
    confirmation.changes.clear()
    confirmation.removed.clear()


def carry_out(uow: UnitOfWork, effects: Effects, cause: Envelope | None = None) -> None:
    """A verb's events into the outbox and its timers into the same transaction."""
    uow.carry_out(effects, cause)


async def _stored_policies(collection: Any, organisation_ids: Iterable[str]) -> dict[str, Document]:
    """The ops API's stored policy documents of these organisations (one query)."""
    return {
        d["_id"]: d async for d in collection.find({"_id": {"$in": list(set(organisation_ids))}})
    }


class Confirmations:
    """Confirmations in one unit of work's transaction."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.confirmations = uow.collection(CONFIRMATIONS)

    async def get(self, key: str) -> Confirmation | None:
        doc = await self.confirmations.find_one({"_id": key})
        return None if doc is None else from_document(doc)

    async def get_many(self, keys: Sequence[str]) -> list[Confirmation]:
        return [from_document(d) async for d in self.confirmations.find({"_id": {"$in": keys}})]

    async def scheduled(self, keys: Sequence[str]) -> list[Confirmation]:
        """Those of ``keys`` still waiting for their send timer."""
        query = {"_id": {"$in": keys}, "state": ConfirmationState.SCHEDULED.value}
        return [from_document(d) async for d in self.confirmations.find(query)]

    async def unsent_older(self, deal_id: str, version: int) -> list[Confirmation]:
        """The deal's older versions a newer one may still replace."""
        query = {
            "deal_id": deal_id,
            "version": {"$lt": version},
            "state": {"$in": [s.value for s in SUPERSEDABLE]},
        }
        return [from_document(d) async for d in self.confirmations.find(query)]

    async def of_customer(
        self, customer_id: str, organisation_id: str, email: str | None
    ) -> list[Confirmation]:
        """Not yet erased versions of a customer: by ``customer_id``, and by the
        recipient address (any case) within the organisation."""
        who: list[Document] = [{"content.customer_id": customer_id}]
        if email:
            who.append(
                {"organisation_id": organisation_id, "recipient": equals_ignoring_case(email)}
            )
        query = {"$or": who, "erased_at": {"$exists": False}}
        return [from_document(d) async for d in self.confirmations.find(query)]

    async def add_new(self, drafts: Sequence[Confirmation]) -> list[int]:
        """Store drafted versions not stored yet (one per key, whatever the redeliveries);
        the positions of those stored now, in order."""
        if not drafts:
            return []
        ops = [
            UpdateOne({"_id": c.key}, {"$setOnInsert": c.document()}, upsert=True) for c in drafts
        ]
        result = await self.confirmations.bulk_write(ops, ordered=True)
        return sorted(result.upserted_ids or {})

    async def save(self, confirmations: Iterable[Confirmation]) -> None:
        """Write what the verbs changed, in one round trip."""
        changed = [c for c in confirmations if c.changes or c.removed]
        if changed:
            ops = [UpdateOne({"_id": c.key}, update_of(c)) for c in changed]
            await self.confirmations.bulk_write(ops, ordered=True)
        for c in changed:
            saved(c)

    async def erased_customers(self, customer_ids: Iterable[str]) -> set[str]:
        query = {"_id": {"$in": list(set(customer_ids))}}
        return {d["_id"] async for d in self.uow.collection(ERASURES).find(query, {"_id": 1})}

    async def record_erasure(
        self, customer_id: str, organisation_id: str, erased_at: datetime
    ) -> None:
        """The customer and organisation ids and times, nothing personal (not even who
        asked): stops deal events that arrive later."""
        await self.uow.collection(ERASURES).update_one(
            {"_id": customer_id},
            {
                "$setOnInsert": {
                    "organisation_id": organisation_id,
                    "erased_at": erased_at,
                    "recorded_at": self.uow.now,
                }
            },
            upsert=True,
        )

    async def scrub_cached_replies(self, erased: Sequence[Confirmation]) -> None:
        """The kit's Idempotency-Key cache holds review answers (recipient, note)."""
        if not erased:
            return
        ops = [
            cached_replies_update(
                {"deal_id": c.deal_id, "version": c.version},
                {"recipient": None, "note": None, "checklist": c.get("checklist")},
            )
            for c in erased
        ]
        await self.uow.collection(IDEMPOTENCY).bulk_write(ops, ordered=False)

    async def stored_policies(self, organisation_ids: Iterable[str]) -> dict[str, Document]:
        return await _stored_policies(self.uow.collection(POLICIES), organisation_ids)

    async def set_policy(self, organisation_id: str, policy: Document) -> None:
        await self.uow.collection(POLICIES).replace_one(
            {"_id": organisation_id}, policy, upsert=True
        )


class ConfirmationReads:
    """What the API reads, outside any transaction (documents, for its views)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db

    async def of_deal(self, deal_id: str) -> list[Document]:
        return await self.db[CONFIRMATIONS].find({"deal_id": deal_id}).sort("version", 1).to_list()

    async def in_state(self, query: Document, limit: int) -> list[Document]:
        return await self.db[CONFIRMATIONS].find(query).limit(limit).to_list()

    async def get(self, key: str) -> Document | None:
        return await self.db[CONFIRMATIONS].find_one({"_id": key})

    async def stored_policies(self, organisation_ids: Iterable[str]) -> dict[str, Document]:
        return await _stored_policies(self.db[POLICIES], organisation_ids)


@dataclass(frozen=True)
class Track:
    """The fields one delivery track keeps in a confirmation document: the customer's
    mail (no prefix) or the seller's separate copy (``copy_``)."""

    prefix: str

    def __call__(self, name: str) -> str:
        return self.prefix + name


CUSTOMER = Track("")
SELLER_COPY = Track("copy_")


class SenderQueue:
    """The sender's queue in ``confirmations``: due versions claimed under a lease (a
    crashed sender's claim runs out and another takes it), outside transactions."""

    def __init__(self, db: AsyncDatabase[Document], owner: str) -> None:
        self.collection = db[CONFIRMATIONS]
        self.owner = owner

    async def claim(
        self, track: Track, now: datetime, until: datetime, limit: int
    ) -> tuple[str, list[Document]]:
        """Due (or abandoned ``sending``) versions become ``sending`` under a new lease
        token; the attempt is counted, the first attempt's time kept (it dates the
        email), and a resumed attempt marked."""
        f = track
        claimable = {
            "$or": [
                {f("state"): ConfirmationState.DUE.value, f("next_attempt_at"): {"$lte": now}},
                {f("state"): ConfirmationState.SENDING.value, f("claim_until"): {"$lt": now}},
            ]
        }
        ids = [
            d["_id"]
            async for d in self.collection.find(claimable, {"_id": 1})
            .sort(f("next_attempt_at"), ASCENDING)
            .limit(limit)
        ]
        if not ids:
            return "", []
        token = f"{self.owner}-{uuid.uuid4().hex[:8]}"
        was_sending = {"$eq": [f"${f('state')}", ConfirmationState.SENDING.value]}
        await self.collection.update_many(
            {"_id": {"$in": ids}, **claimable},
            [
                {
                    "$set": {
                        f("state"): ConfirmationState.SENDING.value,
                        f("claimed_by"): token,
                        f("claim_until"): until,
                        f("attempts"): {"$add": [{"$ifNull": [f"${f('attempts')}", 0]}, 1]},
                        f("first_attempt_at"): {"$ifNull": [f"${f('first_attempt_at')}", now]},
                        f("interrupted_attempts"): {
                            "$add": [
                                {"$ifNull": [f"${f('interrupted_attempts')}", 0]},
                                {"$cond": [was_sending, 1, 0]},
                            ]
                        },
                        f("resumed"): was_sending,
                        f("last_attempt_at"): now,
                    }
                }
            ],
        )
        return token, await self.collection.find({f("claimed_by"): token}).to_list()

    async def record_copies(
        self, token: str, outcomes: Sequence[tuple[Confirmation, bool]]
    ) -> None:
        """The seller's copies after their attempt, each written only while still
        ``sending`` (and, unless accepted, still under this lease: otherwise the new
        holder decides)."""
        ops = []
        for confirmation, accepted in outcomes:
            mine: Document = {
                "_id": confirmation.key,
                "copy_state": ConfirmationState.SENDING.value,
            }
            if not accepted:
                mine["copy_claimed_by"] = token
            ops.append(UpdateOne(mine, update_of(confirmation)))
            saved(confirmation)
        if ops:
            await self.collection.bulk_write(ops, ordered=False)

    async def next_due(self) -> datetime | None:
        """When the next due version (of either track) may be tried."""
        times = []
        for f in (CUSTOMER, SELLER_COPY):
            doc = await self.collection.find_one(
                {f("state"): ConfirmationState.DUE.value},
                {f("next_attempt_at"): 1},
                sort=[(f("next_attempt_at"), ASCENDING)],
            )
            if doc is not None and doc.get(f("next_attempt_at")) is not None:
                times.append(doc[f("next_attempt_at")])
        return min(times) if times else None
