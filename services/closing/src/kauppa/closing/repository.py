"""The closing service's persistence: its MongoDB collections, their indexes and
migrations, and the mapping between a deal's document and the ``Deal`` aggregate.

- ``deals``: one document per deal, its history inside (every event the deal emitted, as
  sent), so a change and its history lines are one write;
- ``erasures``: tombstones of erased customers (see ``erasure.py``);
- ``sellers``: the seller directory; ``organisations``: each one's sales process.

``Deals`` and ``Directory`` are bound to a unit of work (``uow.repository(Deals)``):
every call runs in its transaction. The HTTP queries read outside one
(``Deals.reading(db)``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any, Protocol

from kauppa.closing.domain.deal import Deal
from kauppa.closing.domain.sales_process import DealStatus
from kauppa.closing.settings import SalesProcessConfig
from kauppa.contracts import Envelope, SellerCard
from kauppa.servicekit.mongo import Indexes, equals_ignoring_case
from kauppa.servicekit.repository import BoundCollection, Document
from pymongo import ASCENDING, DESCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

DEALS = "deals"
SELLERS = "sellers"
ORGANISATIONS = "organisations"
ERASURES = "erasures"  # tombstones of erased customers: organisation|customer or business key

INDEXES: tuple[Indexes, ...] = (
    Indexes(
        DEALS,
        (
            # A seller's deals: seller ids are per organisation.
            IndexModel(
                [
                    ("organisation_id", ASCENDING),
                    ("seller_id", ASCENDING),
                    ("status", ASCENDING),
                    ("opened_at", DESCENDING),
                ],
                name="organisation_seller_status",
            ),
            IndexModel([("organisation_id", ASCENDING), ("status", ASCENDING)], name="org_status"),
        ),
        retired=("seller_status",),  # (seller_id, status, opened_at): across organisations
    ),
)


class Collections(Protocol):
    """A unit of work, or ``Reading`` outside one."""

    def collection(self, name: str) -> BoundCollection: ...


class Reading:
    """Collections outside a transaction, for the HTTP queries."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db

    def collection(self, name: str) -> BoundCollection:
        return BoundCollection(self.db[name], None)


def erasure_key(organisation_id: str, customer_or_business_key: str) -> str:
    return f"{organisation_id}|{customer_or_business_key}"


def seller_card_key(organisation_id: str, seller_id: str) -> str:
    """Seller ids are per organisation: B's ``anna`` is not A's ``anna``."""
    return f"{organisation_id}/{seller_id}"


def history_entry(env: Envelope, dumped: Document | None = None) -> Document:
    """One line of a deal's history: the event exactly as it went out (``dumped``: its
    JSON form when the caller already has it)."""
    return {
        "event_id": env.id,
        "type": env.event.type_name,
        "at": env.time,
        "event": dumped if dumped is not None else env.event.model_dump(mode="json"),
    }


# ------------------------------------------------------------------ deal <-> document


def deal_of(doc: Document) -> Deal:
    return Deal(
        deal_id=doc["_id"],
        lead_id=doc["lead_id"],
        organisation_id=doc["organisation_id"],
        customer_id=doc["customer_id"],
        seller_id=doc["seller_id"],
        prospect=doc.get("prospect"),
        source=doc.get("source"),
        stage=doc["stage"],
        status=doc["status"],
        opened_at=doc["opened_at"],
        last_contact_at=doc["last_contact_at"],
        business_key=doc.get("business_key"),
        product_interest=list(doc.get("product_interest") or []),
        contacts=doc.get("contacts", 0),
        offers=dict(doc.get("offers") or {}),
        referrals=list(doc.get("referrals") or []),
        summary=doc.get("summary"),
        summary_version=int(doc.get("summary_version", 0)),
        seller_card=doc.get("seller_card"),
        customer_reference=doc.get("customer_reference"),
        closed_at=doc.get("closed_at"),
        lost_reason=doc.get("lost_reason"),
        lost_at=doc.get("lost_at"),
        updated_at=doc.get("updated_at"),
        erased_at=doc.get("erased_at"),
    )


def new_document(deal: Deal, first_line: Document) -> Document:
    """A deal just opened, its ``DealOpened`` as the first line of its history."""
    return {
        "_id": deal.deal_id,
        "lead_id": deal.lead_id,
        "organisation_id": deal.organisation_id,
        "customer_id": deal.customer_id,
        "seller_id": deal.seller_id,
        "prospect": deal.prospect,
        "business_key": deal.business_key,
        "source": deal.source,
        "product_interest": list(deal.product_interest),
        "stage": deal.stage,
        "status": deal.status,
        "opened_at": deal.opened_at,
        "last_contact_at": deal.last_contact_at,
        "contacts": deal.contacts,
        "offers": dict(deal.offers),
        "referrals": list(deal.referrals),
        "summary_version": deal.summary_version,
        "updated_at": deal.updated_at,
        "history": [first_line],
        **({"erased_at": deal.erased_at} if deal.erased_at is not None else {}),
    }


def update_of(deal: Deal, envelopes: Sequence[Envelope]) -> Document:
    """The fields the verbs changed, and the history lines of the events they caused."""
    update: Document = {}
    if deal.changed:
        update["$set"] = {name: getattr(deal, name) for name in deal.changed}
    if envelopes:
        update["$push"] = {"history": {"$each": [history_entry(env) for env in envelopes]}}
    return update


# ------------------------------------------------------------------ repositories


class Deals:
    """Deals and the erasure tombstones."""

    def __init__(self, uow: Collections) -> None:
        self.deals = uow.collection(DEALS)
        self.erasures = uow.collection(ERASURES)

    @classmethod
    def reading(cls, db: AsyncDatabase[Document]) -> Deals:
        return cls(Reading(db))

    async def get(self, deal_id: str) -> Deal | None:
        doc = await self.deals.find_one({"_id": deal_id})
        return deal_of(doc) if doc else None

    async def open_ones(self, deal_ids: Sequence[str]) -> dict[str, Deal]:
        """The deals among ``deal_ids`` still open."""
        query = {"_id": {"$in": list(deal_ids)}, "status": DealStatus.OPEN.value}
        return {d["_id"]: deal_of(d) async for d in self.deals.find(query)}

    async def known(self, deal_ids: Sequence[str]) -> set[str]:
        """Which of ``deal_ids`` exist."""
        return {d["_id"] async for d in self.deals.find({"_id": {"$in": deal_ids}}, {"_id": 1})}

    async def add(self, opened: Sequence[tuple[Deal, Document]]) -> None:
        """Insert new deals, each with its first history line."""
        if opened:
            docs = [new_document(deal, line) for deal, line in opened]
            await self.deals.insert_many(docs, ordered=False)

    async def save(self, deal: Deal, envelopes: Sequence[Envelope]) -> None:
        """Write what the verbs changed and the history lines of ``envelopes``."""
        update = update_of(deal, envelopes)
        if update:
            await self.deals.update_one({"_id": deal.deal_id}, update)
        deal.changed.clear()

    async def save_all(self, saves: Sequence[tuple[Deal, Sequence[Envelope]]]) -> None:
        """``save`` of several deals in one round trip."""
        writes = [
            UpdateOne({"_id": deal.deal_id}, update)
            for deal, envelopes in saves
            if (update := update_of(deal, envelopes))
        ]
        if writes:
            await self.deals.bulk_write(writes, ordered=False)
        for deal, _ in saves:
            deal.changed.clear()

    # -------------------------------------------------------------- queries (HTTP)

    async def document(self, deal_id: str) -> Document | None:
        """The deal as stored, history included."""
        return await self.deals.find_one({"_id": deal_id})

    async def of_seller(
        self, organisation_id: str, seller_id: str, status: str, limit: int
    ) -> list[Document]:
        """A seller's deals in ``status``, newest first, without their history."""
        query: Document = {
            "organisation_id": organisation_id,
            "seller_id": seller_id,
            "status": status,
        }
        cursor = self.deals.find(query, {"history": 0}).sort("opened_at", -1).limit(limit)
        return await cursor.to_list()

    # -------------------------------------------------------------- erasure (GDPR)

    def of_customer(
        self,
        organisation_id: str,
        customer_id: str,
        business_key: str | None,
        business_id: str | None,
        email: str | None,
    ) -> AsyncIterator[Document]:
        """The stored deals (documents: the erasure rules are over the stored form) that
        may hold an erased customer's data, within the organisation: theirs by customer
        id, business id (the normalised key in any spelling; deals stored before the key
        existed match on the id as written) or contact email (any case), and any deal
        with a referral of that email."""
        email_match = equals_ignoring_case(email) if email else None
        own: list[Document] = [{"customer_id": customer_id}]
        if business_key:
            own += [{"business_key": business_key}, {"prospect.business_id": business_id}]
        if email_match:
            own.append({"prospect.contact.email": email_match})
        referred = [{"referrals.email": email_match}] if email_match else []
        return aiter(
            self.deals.find({"organisation_id": organisation_id, "$or": [*own, *referred]})
        )

    async def set_fields(self, changes: Sequence[tuple[str, Document]]) -> None:
        """``$set`` each deal's fields, in one round trip."""
        if changes:
            writes = [UpdateOne({"_id": deal_id}, {"$set": fields}) for deal_id, fields in changes]
            await self.deals.bulk_write(writes, ordered=False)

    async def tombstoned(self, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which (organisation, customer id or business key) were erased."""
        by_id = {erasure_key(org, key): (org, key) for org, key in keys}
        found = self.erasures.find({"_id": {"$in": sorted(by_id)}}, {"_id": 1})
        return {by_id[d["_id"]] async for d in found}

    async def tombstone(self, organisation_id: str, keys: Sequence[str], at: Any) -> None:
        for key in keys:
            await self.erasures.update_one(
                {"_id": erasure_key(organisation_id, key)},
                {"$setOnInsert": {"at": at}},
                upsert=True,
            )


class Directory:
    """The seller directory and each organisation's sales process (ops keep them)."""

    def __init__(self, uow: Collections) -> None:
        self.sellers = uow.collection(SELLERS)
        self.organisations = uow.collection(ORGANISATIONS)

    @classmethod
    def reading(cls, db: AsyncDatabase[Document]) -> Directory:
        return cls(Reading(db))

    async def processes(
        self, organisation_ids: Iterable[str], default: SalesProcessConfig
    ) -> dict[str, SalesProcessConfig]:
        """Each organisation's stored sales process, or ``default``. One query."""
        ids = sorted(set(organisation_ids))
        found = {
            d["_id"]: SalesProcessConfig.model_validate(d["process"])
            async for d in self.organisations.find({"_id": {"$in": ids}})
        }
        return {org: found.get(org, default) for org in ids}

    async def put_process(self, organisation_id: str, config: SalesProcessConfig, at: Any) -> None:
        await self.organisations.replace_one(
            {"_id": organisation_id},
            {"_id": organisation_id, "process": config.model_dump(mode="json"), "at": at},
            upsert=True,
        )

    async def seller_card(self, organisation_id: str, seller_id: str) -> SellerCard | None:
        doc = await self.sellers.find_one({"_id": seller_card_key(organisation_id, seller_id)})
        return SellerCard.model_validate(doc["card"]) if doc else None

    async def put_seller_card(
        self, organisation_id: str, seller_id: str, card: SellerCard, at: Any
    ) -> None:
        key = seller_card_key(organisation_id, seller_id)
        await self.sellers.replace_one(
            {"_id": key},
            {
                "_id": key,
                "organisation_id": organisation_id,
                "seller_id": seller_id,
                "card": card.model_dump(mode="json"),
                "updated_at": at,
            },
            upsert=True,
        )


# ------------------------------------------------------------------ migrations


async def migrate_seller_cards(db: AsyncDatabase[Document]) -> None:
    """Start-up migration (idempotent) of cards stored before seller ids were per
    organisation (``_id`` = the seller id, no ``organisation_id``): each is copied to
    every organisation in which that seller has deals, then removed. A card of a seller
    without deals belongs to no known organisation: it is kept aside as
    ``organisation_id: null`` (never read; ops put it again)."""
    async for old in db[SELLERS].find({"organisation_id": {"$exists": False}}):
        seller_id = old["_id"]
        orgs = await db[DEALS].distinct("organisation_id", {"seller_id": seller_id})
        for org in orgs:
            await db[SELLERS].update_one(
                {"_id": seller_card_key(org, seller_id)},
                {
                    "$setOnInsert": {
                        "organisation_id": org,
                        "seller_id": seller_id,
                        "card": old["card"],
                        "updated_at": old.get("updated_at"),
                    }
                },
                upsert=True,
            )
        if orgs:
            await db[SELLERS].delete_one({"_id": seller_id, "organisation_id": {"$exists": False}})
        else:
            await db[SELLERS].update_one({"_id": seller_id}, {"$set": {"organisation_id": None}})
