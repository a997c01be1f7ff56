"""The followup database: its collections and indexes, and ``Relationships``, the
repository of customer relationships and their contacts in one unit of work.

Relationships are loaded once per batch (one round trip), changed by their verbs in
memory, and written back once (``save``): new ones inserted, known ones replaced, the
contact writes the verbs caused in the order they were caused. Every read and write runs
in the unit of work's transaction (``uow.collection``). The documents are those the
service always wrote: a relationship's record is its customer document."""

from __future__ import annotations

from collections.abc import Iterable

from kauppa.followup.domain.relationship import (
    Caused,
    ContactUpdate,
    CustomerRelationship,
    ScheduledContact,
)
from kauppa.servicekit.mongo import Indexes
from kauppa.servicekit.repository import Document
from kauppa.servicekit.unit_of_work import UnitOfWork
from pymongo import ASCENDING, DESCENDING, IndexModel, ReplaceOne, UpdateOne

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


def contact_document(contact: ScheduledContact) -> Document:
    """A scheduled contact as stored."""
    return {
        "_id": contact.contact_id,
        "customer_id": contact.customer_id,
        "organisation_id": contact.organisation_id,
        "seller_id": contact.seller_id,
        "kind": contact.kind,
        "due_at": contact.due_at,
        "state": "scheduled",
        "defaulted": contact.defaulted,
        "scheduled_at": contact.scheduled_at,
        **contact.extra,
    }


class Relationships:
    """Customer relationships in one unit of work: loaded once, changed in memory,
    written back once (``save``)."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.customers = uow.collection(CUSTOMERS)
        self.contacts = uow.collection(CONTACTS)
        self.reports = uow.collection(REPORTS)
        self._held: dict[str, CustomerRelationship] = {}
        self._stored: set[str] = set()
        self._dirty: list[str] = []
        self._inserts: list[Document] = []
        self._contact_ops: list[UpdateOne] = []

    async def load(self, customer_ids: Iterable[str]) -> None:
        """Read the relationships not held yet, in one query."""
        wanted = [c for c in set(customer_ids) if c not in self._held]
        if wanted:
            async for doc in self.customers.find({"_id": {"$in": wanted}}):
                self.adopt(doc)

    def adopt(self, doc: Document) -> CustomerRelationship:
        """A stored record the caller read itself (the audit's queries)."""
        held = self._held.get(doc["_id"])
        if held is None:
            held = self._held[doc["_id"]] = CustomerRelationship(doc)
            self._stored.add(doc["_id"])
        return held

    def get(self, customer_id: str) -> CustomerRelationship | None:
        """A relationship loaded (or put) in this unit of work."""
        return self._held.get(customer_id)

    def put(self, relationship: CustomerRelationship) -> None:
        """The relationship changed (or is new): written at ``save``."""
        cid = relationship.customer_id
        self._held[cid] = relationship
        if cid not in self._dirty:
            self._dirty.append(cid)

    def record(self, caused: Caused) -> None:
        """The contact writes a verb caused, in its order (updates before the new
        contacts that replace them)."""
        for update in caused.updates:
            self.update_contact(update)
        for contact in caused.contacts:
            doc = contact_document(contact)
            if contact.fresh:  # checked free: an insert is cheaper than an upsert
                self._inserts.append(doc)
            else:  # a second one with the same id changes nothing
                self._contact_ops.append(
                    UpdateOne({"_id": doc["_id"]}, {"$setOnInsert": doc}, upsert=True)
                )

    def update_contact(self, update: ContactUpdate) -> None:
        self._contact_ops.append(
            UpdateOne(
                {"_id": update.contact_id, "state": update.when_state}, {"$set": update.changes}
            )
        )

    async def known_contacts(self, contact_ids: Iterable[str]) -> set[str]:
        """Which of these contacts are stored already."""
        wanted = list(set(contact_ids))
        if not wanted:
            return set()
        return {d["_id"] async for d in self.contacts.find({"_id": {"$in": wanted}}, {"_id": 1})}

    async def contact_of(
        self, relationship: CustomerRelationship, contact_id: str
    ) -> Document | None:
        """A contact of this customer (and organisation) only: another's id is as if
        none were given."""
        return await self.contacts.find_one(
            {
                "_id": contact_id,
                "customer_id": relationship.customer_id,
                "organisation_id": relationship.organisation_id,
            }
        )

    async def report_exists(self, report_id: str) -> bool:
        return await self.reports.find_one({"_id": report_id}, {"_id": 1}) is not None

    async def add_report(self, report: Document) -> None:
        """The report as logged (written at once: a repeat of its id is then a duplicate)."""
        await self.reports.insert_one(report)

    async def save(self) -> None:
        """Write what changed: new relationships inserted (cheaper than upserts), known
        ones replaced, then the new contacts and the contact changes in order."""
        fresh = [self._held[i].record for i in self._dirty if i not in self._stored]
        known = [i for i in self._dirty if i in self._stored]
        if fresh:
            await self.customers.insert_many(fresh, ordered=False)
        if known:
            await self.customers.bulk_write(
                [ReplaceOne({"_id": i}, self._held[i].record) for i in known], ordered=False
            )
        if self._inserts:
            await self.contacts.insert_many(self._inserts, ordered=False)
        if self._contact_ops:
            await self.contacts.bulk_write(self._contact_ops, ordered=True)
        self._stored.update(self._dirty)
        self._dirty, self._inserts, self._contact_ops = [], [], []
