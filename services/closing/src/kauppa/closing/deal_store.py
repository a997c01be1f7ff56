"""The closing service's own database: deals (each with its history inside, so a change
and its history line are one write), the seller directory and each organisation's sales
process."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kauppa.closing.settings import SalesProcessConfig
from kauppa.contracts import Envelope, SellerCard
from kauppa.servicekit.mongo import Indexes
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

Document = dict[str, Any]

DEALS = "deals"
SELLERS = "sellers"
ORGANISATIONS = "organisations"
ERASURES = "erasures"  # tombstones of erased customers: organisation|customer or business key


def erasure_key(organisation_id: str, customer_or_business_key: str) -> str:
    return f"{organisation_id}|{customer_or_business_key}"


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


def stale_timer_key(deal_id: str) -> str:
    return f"stale:{deal_id}"


def history_entry(env: Envelope, dumped: Document | None = None) -> Document:
    """One line of a deal's history: the event exactly as it went out (``dumped``: its
    JSON form when the caller already has it)."""
    return {
        "event_id": env.id,
        "type": env.event.type_name,
        "at": env.time,
        "event": dumped if dumped is not None else env.event.model_dump(mode="json"),
    }


async def load_processes(
    db: AsyncDatabase[Document],
    session: AsyncClientSession | None,
    organisation_ids: Iterable[str],
    default: SalesProcessConfig,
) -> dict[str, SalesProcessConfig]:
    """Each organisation's stored sales process, or the settings' default. One query."""
    ids = sorted(set(organisation_ids))
    found = {
        d["_id"]: SalesProcessConfig.model_validate(d["process"])
        async for d in db[ORGANISATIONS].find({"_id": {"$in": ids}}, session=session)
    }
    return {org: found.get(org, default) for org in ids}


def seller_card_key(organisation_id: str, seller_id: str) -> str:
    """Seller ids are per organisation: B's ``anna`` is not A's ``anna``."""
    return f"{organisation_id}/{seller_id}"


async def load_seller_card(
    db: AsyncDatabase[Document],
    session: AsyncClientSession | None,
    organisation_id: str,
    seller_id: str,
) -> SellerCard | None:
    doc = await db[SELLERS].find_one(
        {"_id": seller_card_key(organisation_id, seller_id)}, session=session
    )
    return SellerCard.model_validate(doc["card"]) if doc else None


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
