"""Per subscription: state, backlog and the oldest undelivered delivery's age, for
``GET /stats``, the metrics and the dashboard."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kauppa.servicekit.clock import Clock
from kauppa.webhooks.repository import DELIVERIES, SUBSCRIPTIONS
from pymongo.asynchronous.database import AsyncDatabase

Document = dict[str, Any]


async def subscription_stats(
    db: AsyncDatabase[Document], clock: Clock, query: Document | None = None
) -> list[Document]:
    now = clock.now()
    subs = await db[SUBSCRIPTIONS].find(query or {}).to_list()
    backlog = {
        row["_id"]: row
        async for row in await db[DELIVERIES].aggregate(
            [
                {"$match": {"open": True, "subscription_id": {"$in": [s["_id"] for s in subs]}}},
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
    rows = []
    for s in subs:
        b = backlog.get(s["_id"], {})
        oldest: datetime | None = b.get("oldest")
        age = (
            max(clock.real_seconds(now - oldest.replace(tzinfo=oldest.tzinfo or UTC)), 0.0)
            if oldest
            else None
        )
        rows.append(
            {
                "subscription_id": s["_id"],
                "organisation_id": s["organisation_id"],
                "url": s["url"],
                "state": s["state"],
                "filters": s.get("filters"),
                "backlog": b.get("backlog", 0),
                "oldest_undelivered_age_seconds": round(age, 1) if age is not None else None,
                "failing": s["state"] == "disabled" or s.get("failing_since") is not None,
                "delivered": s.get("delivered", 0),
                "failing_since": s.get("failing_since"),
                "last_error": s.get("last_error"),
                "last_success_at": s.get("last_success_at"),
            }
        )
    return rows
