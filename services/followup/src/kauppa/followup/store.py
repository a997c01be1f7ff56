"""The followup database: collections, their indexes, and the batch-scoped loading and
writing that keeps handlers at one round trip per collection per batch."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from kauppa.servicekit.mongo import Indexes
from kauppa.servicekit.unit_of_work import UnitOfWork
from pymongo import ASCENDING, DESCENDING, IndexModel, ReplaceOne, UpdateOne

Document = dict[str, Any]

CUSTOMERS = "customers"  # one relationship per customer account
CONTACTS = "contacts"  # one per scheduled contact (feedback, next, campaign)
REPORTS = "contact_reports"  # what sellers logged, one per report
CAMPAIGNS = "campaigns"  # D17 campaigns and their progress
AUDITS = "audits"  # invariant audit results

INDEXES: tuple[Indexes, ...] = (
    Indexes(
        CUSTOMERS,
        (
            # The audit: "no next contact" (equality on null) and "stuck" (a range).
            IndexModel(
                [("active", ASCENDING), ("next_contact_due_at", ASCENDING)], name="next_contact"
            ),
            # The audit: "scheduled past the 12-month deadline" (only offenders indexed).
            IndexModel(
                [("next_contact_overshoot_s", ASCENDING)],
                name="overshoot",
                partialFilterExpression={"next_contact_overshoot_s": {"$gt": 0}},
            ),
            IndexModel([("contact_deadline", ASCENDING)], name="deadline"),
            # Segments (D17): one index per classification the criteria can name.
            IndexModel([("organisation_id", ASCENDING), ("attributes.industry", ASCENDING)]),
            IndexModel([("organisation_id", ASCENDING), ("attributes.region", ASCENDING)]),
            IndexModel([("organisation_id", ASCENDING), ("attributes.size", ASCENDING)]),
            IndexModel([("organisation_id", ASCENDING), ("attributes.tags", ASCENDING)]),
            IndexModel([("organisation_id", ASCENDING), ("attributes.renewal_month", ASCENDING)]),
            IndexModel([("organisation_id", ASCENDING), ("products_owned", ASCENDING)]),
            IndexModel([("organisation_id", ASCENDING), ("_id", ASCENDING)], name="org_walk"),
        ),
    ),
    Indexes(
        CONTACTS,
        (
            # A seller's agenda: seller ids are per organisation.
            IndexModel(
                [
                    ("organisation_id", ASCENDING),
                    ("seller_id", ASCENDING),
                    ("state", ASCENDING),
                    ("due_at", ASCENDING),
                ],
                name="organisation_seller_agenda",
            ),
            IndexModel([("customer_id", ASCENDING), ("due_at", DESCENDING)], name="history"),
            IndexModel([("campaign_id", ASCENDING)], name="campaign", sparse=True),
        ),
        retired=("seller_agenda",),  # (seller_id, state, due_at): across organisations
    ),
    Indexes(
        REPORTS,
        (
            IndexModel([("customer_id", ASCENDING), ("contacted_at", DESCENDING)], name="history"),
            # Erasure: the erased person named as a referral in another customer's report.
            IndexModel([("referrals.email", ASCENDING)], name="referral_email", sparse=True),
        ),
    ),
    Indexes(
        AUDITS,
        (
            # The latest of the whole service (no organisation_id) or of one tenant's.
            IndexModel(
                [("organisation_id", ASCENDING), ("at", DESCENDING), ("_id", DESCENDING)],
                name="latest_per_organisation",
            ),
        ),
    ),
)


class BatchState:
    """Customers loaded once per batch, changed in memory, written back once."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self.customers: dict[str, Document] = {}
        self.dirty: set[str] = set()
        self.contact_ops: list[UpdateOne] = []
        self.new_contacts: list[Document] = []
        self.loaded: set[str] = set()

    async def load(self, customer_ids: Iterable[str]) -> None:
        wanted = [c for c in set(customer_ids) if c not in self.customers]
        if wanted:
            async for doc in self.uow.db[CUSTOMERS].find(
                {"_id": {"$in": wanted}}, session=self.uow.session
            ):
                self.customers[doc["_id"]] = doc
                self.loaded.add(doc["_id"])

    def adopt(self, doc: Document) -> None:
        """A customer the caller read itself (it is stored already)."""
        self.customers.setdefault(doc["_id"], doc)
        self.loaded.add(doc["_id"])

    def get(self, customer_id: str) -> Document | None:
        return self.customers.get(customer_id)

    def put(self, customer: Document) -> None:
        self.customers[customer["_id"]] = customer
        self.dirty.add(customer["_id"])

    def add_contact(self, contact: Document) -> None:
        """A new scheduled contact; a second insert of the same id changes nothing."""
        self.contact_ops.append(
            UpdateOne({"_id": contact["_id"]}, {"$setOnInsert": contact}, upsert=True)
        )

    def insert_contact(self, contact: Document) -> None:
        """A contact whose id the handler has checked is not stored yet (cheaper)."""
        self.new_contacts.append(contact)

    def update_contact(self, contact_id: str, when_state: str, changes: Document) -> None:
        self.contact_ops.append(
            UpdateOne({"_id": contact_id, "state": when_state}, {"$set": changes})
        )

    async def flush(self) -> None:
        db, session = self.uow.db, self.uow.session
        # Customers not found at load are inserted (cheaper than upserts); others replaced.
        fresh = [self.customers[i] for i in self.dirty if i not in self.loaded]
        known = [i for i in self.dirty if i in self.loaded]
        if fresh:
            await db[CUSTOMERS].insert_many(fresh, ordered=False, session=session)
        if known:
            await db[CUSTOMERS].bulk_write(
                [ReplaceOne({"_id": i}, self.customers[i]) for i in known],
                ordered=False,
                session=session,
            )
        if self.new_contacts:
            await db[CONTACTS].insert_many(self.new_contacts, ordered=False, session=session)
        if self.contact_ops:
            await db[CONTACTS].bulk_write(self.contact_ops, ordered=True, session=session)


async def existing_ids(uow: UnitOfWork, collection: str, ids: Iterable[str]) -> set[str]:
    wanted = list(set(ids))
    if not wanted:
        return set()
    return {
        d["_id"]
        async for d in uow.db[collection].find(
            {"_id": {"$in": wanted}}, {"_id": 1}, session=uow.session
        )
    }


def contact_document(
    *,
    contact_id: str,
    customer: Document,
    kind: str,
    due_at: datetime,
    scheduled_at: datetime,
    defaulted: bool = False,
    **extra: Any,
) -> Document:
    return {
        "_id": contact_id,
        "customer_id": customer["_id"],
        "organisation_id": customer["organisation_id"],
        "seller_id": customer.get("seller_id") or "unassigned",
        "kind": kind,
        "due_at": due_at,
        "state": "scheduled",
        "defaulted": defaulted,
        "scheduled_at": scheduled_at,
        **{k: v for k, v in extra.items() if v is not None},
    }
