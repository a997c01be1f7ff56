"""Helpers for the handoff's integration tests: unique organisations, a roster seeded in
the runtime's database, and sellers' verdicts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from kauppa.contracts import LeadVerdictSubmitted, Verdict
from kauppa.handoff.repository import SELLERS, seller_key
from kauppa.servicekit.runtime import ServiceRuntime


def new_org() -> str:
    return f"org-{uuid.uuid4().hex[:10]}"


def seller_doc(seller_id: str, org: str, **kw: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": seller_key(org, seller_id),
        "seller_id": seller_id,
        "organisation_id": org,
        "name": seller_id,
        "team": None,
        "regions": [],
        "products": [],
        "languages": [],
        "capacity": 100,
        "active": True,
        "absences": [],
        "open_leads": 0,
        "last_assigned_seq": 0,
    }
    doc.update(kw)
    return doc


async def seed_sellers(rt: ServiceRuntime, docs: list[dict[str, Any]]) -> None:
    await rt.db[SELLERS].insert_many(docs)


def verdict(lead_id: str, seller_id: str, v: Verdict, **kw: Any) -> LeadVerdictSubmitted:
    """A seller's verdict as the sellers' tools would send it."""
    return LeadVerdictSubmitted(
        lead_id=lead_id, seller_id=seller_id, verdict=v, submitted_at=datetime.now(UTC), **kw
    )
