"""The handoff's own database: leads (one document per lead, state and quality facts
together) and the seller roster. Mapping between documents and domain objects."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from kauppa.handoff.domain.identity import ProspectIdentity
from kauppa.handoff.domain.routing import Absence, LeadProfile, Rotation, Seller, language_of
from kauppa.handoff.domain.source_quality import LeadFacts
from kauppa.handoff.domain.verdicts import LeadStatus
from kauppa.handoff.domain.what_if import RoutedLead
from kauppa.servicekit.mongo import Indexes
from pymongo import ASCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

Document = dict[str, Any]

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

ROSTER_FIELDS = (
    "organisation_id",
    "name",
    "team",
    "regions",
    "products",
    "languages",
    "capacity",
    "active",
    "absences",
)


def identity_doc(identity: ProspectIdentity) -> Document:
    return {
        "business_id": identity.business_id,
        "email": identity.email,
        "domain": identity.domain,
    }


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


class Roster:
    """The sellers of some organisations, loaded once per transaction; routing changes
    their counters in memory and ``save`` writes the changed ones in one round trip.
    Absolute values are safe: a concurrent writer of the same seller makes one of the
    two transactions conflict and re-run on fresh data."""

    def __init__(self, sellers: Iterable[Seller]) -> None:
        self.by_org: dict[str, list[Seller]] = {}
        for s in sellers:
            self.by_org.setdefault(s.organisation_id, []).append(s)
        self.by_id = {
            seller_key(s.organisation_id, s.seller_id): s
            for org in self.by_org.values()
            for s in org
        }
        self.rotations = {
            org: Rotation(max((s.last_assigned_seq for s in members), default=0))
            for org, members in self.by_org.items()
        }
        self._dirty: set[str] = set()

    @classmethod
    async def load(
        cls, db: AsyncDatabase[Document], session: AsyncClientSession, orgs: Iterable[str]
    ) -> Roster:
        docs = db[SELLERS].find({"organisation_id": {"$in": sorted(set(orgs))}}, session=session)
        return cls([seller_from(d) async for d in docs])

    def sellers(self, org: str) -> list[Seller]:
        return self.by_org.get(org, [])

    def get(self, org: str, seller_id: str) -> Seller | None:
        return self.by_id.get(seller_key(org, seller_id))

    def assign(self, seller: Seller) -> None:
        self.rotations.setdefault(seller.organisation_id, Rotation()).assign(seller)
        self._dirty.add(seller_key(seller.organisation_id, seller.seller_id))

    def release(self, org: str, seller_id: str | None) -> None:
        seller = self.get(org, seller_id or "")
        if seller is not None:
            Rotation.release(seller)
            self._dirty.add(seller_key(org, seller.seller_id))

    async def save(self, db: AsyncDatabase[Document], session: AsyncClientSession) -> None:
        if not self._dirty:
            return
        ops = [
            UpdateOne(
                {"_id": sid},
                {
                    "$set": {
                        "open_leads": self.by_id[sid].open_leads,
                        "last_assigned_seq": self.by_id[sid].last_assigned_seq,
                    }
                },
            )
            for sid in sorted(self._dirty)
        ]
        await db[SELLERS].bulk_write(ops, ordered=False, session=session)
        self._dirty.clear()


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


def profile_of(doc: Document) -> LeadProfile:
    """What routing needs to know about a lead."""
    prospect = doc.get("prospect") or {}
    return LeadProfile(
        organisation_id=doc["organisation_id"],
        region=prospect.get("region"),
        products=doc.get("product_interest") or [],
        language=language_of(prospect.get("locale") or ""),
    )


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
