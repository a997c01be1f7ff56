"""The handoff's persistence, in one place: its database (``leads``: one document per
lead, state and quality facts together; ``sellers``: the roster; ``erasures``: erased
customers' tombstones), indexes and start-up migration, and the mapping between documents
and the domain (``Lead``, ``Seller``, ``Roster``).

``HandoffRepository`` is what handlers and commands use inside a unit of work
(``uow.repository(HandoffRepository)``; every call runs in the transaction). The API's
read paths, outside a unit of work, use the query functions at the end on the runtime's
database."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from kauppa.handoff.domain.identity import IDENTITY_KEYS, OpenHandoffs, ProspectIdentity
from kauppa.handoff.domain.lead import DealOutcome, Lead, profile_of
from kauppa.handoff.domain.routing import Absence, Roster, Seller
from kauppa.handoff.domain.source_quality import LeadFacts
from kauppa.handoff.domain.verdicts import LeadStatus
from kauppa.handoff.domain.what_if import QUEUE_DRAIN_LIMIT, RoutedLead
from kauppa.servicekit.mongo import Indexes
from kauppa.servicekit.repository import Document
from kauppa.servicekit.unit_of_work import UnitOfWork
from pymongo import ASCENDING, IndexModel, ReplaceOne, UpdateMany, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

LEADS = "leads"
SELLERS = "sellers"
ERASURES = "erasures"  # tombstones of erased customers, "organisation|customer_id"


def seller_key(organisation_id: str, seller_id: str) -> str:
    """A roster entry's ``_id``: seller ids are per organisation (B's ``anna`` is not
    A's ``anna``, and cannot shadow or block her)."""
    return f"{organisation_id}/{seller_id}"


async def migrate_roster(db: AsyncDatabase[Document]) -> None:
    """Start-up migration (idempotent): roster entries stored before seller ids were per
    organisation (``_id`` = the seller id) get the ``organisation/seller`` key."""
    async for old in db[SELLERS].find({"seller_id": {"$exists": False}}):
        new = {
            **old,
            "_id": seller_key(old["organisation_id"], old["_id"]),
            "seller_id": old["_id"],
        }
        await db[SELLERS].replace_one({"_id": new["_id"]}, new, upsert=True)
        await db[SELLERS].delete_one({"_id": old["_id"]})


_OPEN = {"open": True}

INDEXES = (
    Indexes(
        LEADS,
        (
            # Duplicate detection looks only at open handoffs.
            IndexModel(
                [("organisation_id", ASCENDING), ("identity.business_id", ASCENDING)],
                name="open_by_business_id",
                partialFilterExpression=_OPEN,
            ),
            IndexModel(
                [
                    ("organisation_id", ASCENDING),
                    ("identity.email", ASCENDING),
                    ("identity.business_id", ASCENDING),
                ],
                name="open_by_email",
                partialFilterExpression=_OPEN,
            ),
            IndexModel(
                [
                    ("organisation_id", ASCENDING),
                    ("identity.domain", ASCENDING),
                    ("identity.business_id", ASCENDING),
                ],
                name="open_by_domain",
                partialFilterExpression=_OPEN,
            ),
            # The unassigned queue: only queued leads are in it (not every lead ever).
            IndexModel(
                [("organisation_id", ASCENDING), ("queued_at", ASCENDING)],
                name="queued",
                partialFilterExpression={"status": LeadStatus.QUEUED},
            ),
            IndexModel([("organisation_id", ASCENDING), ("received_at", ASCENDING)], name="period"),
            IndexModel([("linked_to", ASCENDING)], name="linked", sparse=True),
        ),
        retired=("queue",),  # (organisation_id, status, queued_at) over every lead
    ),
    Indexes(SELLERS, (IndexModel([("organisation_id", ASCENDING)], name="by_org"),)),
)


def identity_from(doc: Document) -> ProspectIdentity:
    i = doc.get("identity") or {}
    return ProspectIdentity(i.get("business_id"), i.get("email"), i.get("domain"))


def seller_from(doc: Document) -> Seller:
    return Seller(
        seller_id=doc.get("seller_id") or doc["_id"],
        organisation_id=doc["organisation_id"],
        name=doc.get("name", ""),
        team=doc.get("team"),
        regions=list(doc.get("regions") or []),
        products=list(doc.get("products") or []),
        languages=list(doc.get("languages") or []),
        capacity=int(doc.get("capacity", 10)),
        active=bool(doc.get("active", True)),
        absences=[Absence(a["start"], a.get("end")) for a in doc.get("absences") or []],
        open_leads=int(doc.get("open_leads", 0)),
        last_assigned_seq=int(doc.get("last_assigned_seq", 0)),
    )


def seller_view(seller: Seller, now: datetime) -> Document:
    return {
        "seller_id": seller.seller_id,
        "organisation_id": seller.organisation_id,
        "name": seller.name,
        "team": seller.team,
        "regions": seller.regions,
        "products": seller.products,
        "languages": seller.languages,
        "capacity": seller.capacity,
        "active": seller.active,
        "absences": [{"start": a.start, "end": a.end} for a in seller.absences],
        "absent_now": seller.is_absent(now),
        "open_leads": seller.open_leads,
    }


def lead_facts(doc: Document) -> LeadFacts:
    return LeadFacts(
        lead_id=doc["_id"],
        source=doc.get("source") or {},
        received_at=doc["received_at"],
        status=doc.get("status", ""),
        unmet_criteria=tuple(doc.get("unmet_criteria") or ()),
        malformed=bool(doc.get("problems")),
        linked_to=doc.get("linked_to"),
        assigned_at=doc.get("first_assigned_at"),
        verdict=doc.get("verdict"),
        verdict_at=doc.get("verdict_at"),
        return_reason=doc.get("return_reason"),
        closed=bool(doc.get("closed_at")),
        lost=bool(doc.get("lost_at")),
        reminders=int(doc.get("reminders", 0)),
        reassignments=int(doc.get("reassignments", 0)),
        queue_reason=doc.get("last_queue_reason"),
    )


# Leads that went to routing (not the gate's rejections, not linked duplicates).
ROUTED_STATUSES = (
    LeadStatus.QUEUED,
    LeadStatus.ASSIGNED,
    LeadStatus.ACCEPTED,
    LeadStatus.RETURNED,
)
ROUTING_FIELDS = {
    f: 1
    for f in (
        "organisation_id",
        "received_at",
        "routed_at",
        "routed_n",
        "prospect.region",
        "prospect.locale",
        "product_interest",
        "status",
        "seller_id",
        "sellers_tried",
        "assigned_at",
        "verdict_at",
        "reminders",
        "reassignments",
        "times_queued",
        "last_queue_reason",
    )
}


def routed_lead(doc: Document) -> RoutedLead:
    """A lead's routing facts for the what-if replay (project with ``ROUTING_FIELDS``).
    Leads stored before ``routed_at`` was recorded arrive at ``received_at``."""
    waiting = doc.get("status") == LeadStatus.QUEUED
    return RoutedLead(
        lead_id=doc["_id"],
        profile=profile_of(doc),
        arrived_at=doc.get("routed_at") or doc["received_at"],
        order=int(doc.get("routed_n") or 0),
        verdict_at=doc.get("verdict_at"),
        last_assigned_at=doc.get("assigned_at"),
        sellers_tried=tuple(doc.get("sellers_tried") or ()),
        owner=None if waiting else doc.get("seller_id"),
        reminders=int(doc.get("reminders") or 0),
        reassignments=int(doc.get("reassignments") or 0),
        times_queued=int(doc.get("times_queued") or 0),
        queue_reason=doc.get("last_queue_reason"),
        waiting=waiting,
    )


def lead_view(doc: Document) -> Document:
    """A lead as the API shows it."""
    keep = (
        "organisation_id",
        "status",
        "source",
        "prospect",
        "product_interest",
        "unmet_criteria",
        "problems",
        "linked_to",
        "matched_on",
        "seller_id",
        "attempt",
        "assigned_at",
        "respond_by",
        "queued_at",
        "queue_reason",
        "queue_detail",
        "received_at",
        "verdict",
        "verdict_at",
        "return_reason",
        "return_text",
        "reminders",
        "reassignments",
    )
    return {"lead_id": doc["_id"], **{k: doc.get(k) for k in keep if k in doc}}


class HandoffRepository:
    """Leads and the roster inside one unit of work (``uow.repository(HandoffRepository)``):
    loads and saves ``Lead`` and ``Roster``, and the few set-wise writes that need no
    aggregate loaded (a deal's outcome, the customer id, a verdict's credit to linked
    leads)."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.leads = uow.collection(LEADS)
        self.sellers = uow.collection(SELLERS)

    # ------------------------------------------------------------------ leads

    async def get(self, lead_id: str) -> Lead | None:
        doc = await self.leads.find_one({"_id": lead_id})
        return Lead(doc) if doc is not None else None

    async def owner_of(self, lead_id: str) -> tuple[str, str | None] | None:
        """The lead's organisation and seller (who may see it), or None."""
        doc = await self.leads.find_one({"_id": lead_id}, {"organisation_id": 1, "seller_id": 1})
        return (doc["organisation_id"], doc.get("seller_id")) if doc is not None else None

    async def known_lead_ids(self, ids: list[str]) -> set[str]:
        return {d["_id"] async for d in self.leads.find({"_id": {"$in": ids}}, {"_id": 1})}

    async def organisations_with_queue(self, orgs: Iterable[str]) -> list[str]:
        """Of ``orgs``, those with leads in the unassigned queue."""
        return await self.leads.distinct(
            "organisation_id",
            {"organisation_id": {"$in": sorted(set(orgs))}, "status": LeadStatus.QUEUED},
        )

    async def queued(self, orgs: list[str]) -> list[Lead]:
        """The organisations' queued leads, oldest first, as many as one pass drains."""
        docs = (
            await self.leads.find({"organisation_id": {"$in": orgs}, "status": LeadStatus.QUEUED})
            .sort("queued_at", 1)
            .limit(QUEUE_DRAIN_LIMIT)
            .to_list()
        )
        return [Lead(d) for d in docs]

    async def awaiting_verdict(self, ids: Iterable[str]) -> dict[str, Lead]:
        """The leads of these ids still assigned (awaiting a verdict), by id."""
        docs = await self.leads.find(
            {"_id": {"$in": sorted(set(ids))}, "status": LeadStatus.ASSIGNED}
        ).to_list()
        return {d["_id"]: Lead(d) for d in docs}

    async def open_handoffs(self, candidates: list[tuple[str, ProspectIdentity]]) -> OpenHandoffs:
        """Open handoffs that may be the same prospect as one of ``candidates``
        (organisation, identity), found by the open-handoff indexes."""
        ors: list[Document] = []
        for org in sorted({o for o, _ in candidates}):
            mine = [i for o, i in candidates if o == org]
            bids = sorted({i.business_id for i in mine if i.business_id})
            if bids:
                ors.append({"organisation_id": org, "identity.business_id": {"$in": bids}})
            for field in IDENTITY_KEYS[1:]:
                # Two leads that both carry a business id are compared on it alone, so a
                # lead with one only looks for open handoffs without one.
                anyone = sorted({v for i in mine if not i.business_id and (v := getattr(i, field))})
                without_bid = sorted(
                    {v for i in mine if i.business_id and (v := getattr(i, field))}
                )
                if anyone:
                    ors.append({"organisation_id": org, f"identity.{field}": {"$in": anyone}})
                if without_bid:
                    ors.append(
                        {
                            "organisation_id": org,
                            f"identity.{field}": {"$in": without_bid},
                            "identity.business_id": None,
                        }
                    )
        if not ors:
            return OpenHandoffs()
        docs = await self.leads.find(
            {"open": True, "$or": ors}, {"organisation_id": 1, "identity": 1}
        ).to_list()
        return OpenHandoffs((d["organisation_id"], identity_from(d), d["_id"]) for d in docs)

    async def add(self, leads: list[Lead]) -> None:
        """New leads (their ids are known to be new)."""
        if leads:
            await self.leads.insert_many([lead.state for lead in leads], ordered=False)

    async def save(self, leads: list[Lead]) -> None:
        if leads:
            await self.leads.bulk_write(
                [ReplaceOne({"_id": lead.lead_id}, lead.state) for lead in leads], ordered=False
            )

    async def credit_linked(self, lead: Lead) -> None:
        """Leads linked to ``lead`` get its verdict (both sources are credited)."""
        await self.leads.update_many({"linked_to": lead.lead_id}, {"$set": lead.linked_credit()})

    async def record_outcomes(self, outcomes: list[DealOutcome]) -> None:
        """Deals won or lost: on each lead and the leads linked to it, in order."""
        if outcomes:
            await self.leads.bulk_write(
                [
                    UpdateMany(
                        {"$or": [{"_id": o.lead_id}, {"linked_to": o.lead_id}]},
                        {"$set": o.fields},
                    )
                    for o in outcomes
                ],
                ordered=True,
            )

    async def record_customers(self, customers: list[tuple[str, str]]) -> None:
        """(lead id, customer id): the customer closing gave the lead's company, so an
        erasure by customer id finds the lead."""
        if customers:
            await self.leads.bulk_write(
                [UpdateOne({"_id": lead}, {"$set": {"customer_id": c}}) for lead, c in customers],
                ordered=False,
            )

    # ------------------------------------------------------------------ the roster

    async def roster(self, orgs: Iterable[str]) -> Roster:
        """The sellers of ``orgs``, loaded once per transaction."""
        docs = self.sellers.find({"organisation_id": {"$in": sorted(set(orgs))}})
        return Roster([seller_from(d) async for d in docs])

    async def save_roster(self, roster: Roster) -> None:
        """The changed sellers' counters, in one round trip."""
        changed = roster.changed()
        if not changed:
            return
        await self.sellers.bulk_write(
            [
                UpdateOne(
                    {"_id": seller_key(s.organisation_id, s.seller_id)},
                    {
                        "$set": {
                            "open_leads": s.open_leads,
                            "last_assigned_seq": s.last_assigned_seq,
                        }
                    },
                )
                for s in changed
            ],
            ordered=False,
        )
        roster.saved()

    async def put_seller(
        self, organisation_id: str, seller_id: str, profile: Document, absences: list[Absence]
    ) -> bool:
        """Add or change a seller's profile (counters untouched; absences stored in UTC).
        True when it existed."""
        key = seller_key(organisation_id, seller_id)
        existing = await self.sellers.find_one({"_id": key})
        fields = {**profile, "seller_id": seller_id}
        fields["absences"] = [
            {"start": a.start.astimezone(UTC), "end": a.end.astimezone(UTC) if a.end else None}
            for a in absences
        ]
        await self.sellers.update_one(
            {"_id": key},
            {"$set": fields, "$setOnInsert": {"open_leads": 0, "last_assigned_seq": 0}},
            upsert=True,
        )
        return existing is not None


# ---------------------------------------------------------------------- API read paths


async def find_lead(db: AsyncDatabase[Document], lead_id: str) -> Document | None:
    return await db[LEADS].find_one({"_id": lead_id})


async def queued_leads(db: AsyncDatabase[Document], organisation_id: str) -> list[Document]:
    """The unassigned queue, oldest first (at most 1000)."""
    return (
        await db[LEADS]
        .find({"organisation_id": organisation_id, "status": LeadStatus.QUEUED})
        .sort("queued_at", 1)
        .limit(1000)
        .to_list()
    )


async def sellers_of(
    db: AsyncDatabase[Document], organisation_id: str, *, by_id: bool = False
) -> list[Seller]:
    """The organisation's roster (``by_id``: sorted by seller id)."""
    docs = db[SELLERS].find({"organisation_id": organisation_id})
    if by_id:
        docs = docs.sort("seller_id", 1)
    return [seller_from(d) async for d in docs]


async def lead_facts_received(
    db: AsyncDatabase[Document],
    organisation_id: str,
    since: datetime | None,
    until: datetime | None,
) -> list[LeadFacts]:
    """What became of each lead of the organisation received in [since, until)."""
    received: Document = {}
    if since is not None:
        received["$gte"] = since
    if until is not None:
        received["$lt"] = until
    query: Document = {"organisation_id": organisation_id}
    if received:
        query["received_at"] = received
    return [lead_facts(d) async for d in db[LEADS].find(query, {"prospect": 0, "criteria": 0})]


async def routed_leads(
    db: AsyncDatabase[Document], organisation_id: str, since: datetime, until: datetime, limit: int
) -> list[Document]:
    """Leads received in [since, until) that went to routing, most recent first, with
    their routing facts only (``ROUTING_FIELDS``; see ``routed_lead``)."""
    return (
        await db[LEADS]
        .find(
            {
                "organisation_id": organisation_id,
                "received_at": {"$gte": since, "$lt": until},
                "status": {"$in": list(ROUTED_STATUSES)},
            },
            ROUTING_FIELDS,
        )
        .sort("received_at", -1)
        .limit(limit)
        .to_list()
    )
