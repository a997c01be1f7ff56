"""Act 1, ops: sellers, seller cards, bundle prices and confirmation policies."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from kauppa.cli.demo.cast import ORGS, SELLERS, slug
from kauppa.cli.demo.context import Demo


async def setup_ops(demo: Demo) -> None:
    api = demo.api
    assert api is not None
    ops = ("ops-demo", "ops")
    with demo.progress() as prog:
        work: list[Awaitable[Any]] = []
        for org in ORGS:
            work.append(
                api.call(
                    "closing",
                    "PUT",
                    f"/organisations/{org.org_id}/sales-process",
                    as_=ops,
                    body={
                        "stages": ["qualified", "meeting", "offer", "negotiation", "closing"],
                        "stale_after_days": 14,
                        "stale_after_days_by_stage": {"negotiation": 7},
                        "bundle_rules": list(org.bundle_rules),
                    },
                )
            )
            work.append(
                api.call(
                    "confirmation",
                    "PUT",
                    f"/policies/{org.org_id}",
                    as_=ops,
                    body={"policy": org.policy, "country": "FI", "morning_hour": 8},
                )
            )
        for s in SELLERS:
            org = next(o for o in ORGS if o.org_id == s.org_id)
            work.append(
                api.call(
                    "handoff",
                    "PUT",
                    f"/sellers/{s.seller_id}",
                    as_=ops,
                    body={
                        "organisation_id": s.org_id,
                        "name": s.name,
                        "team": s.team,
                        "regions": [],
                        "products": list(s.products),
                        "languages": list(s.languages),
                        "capacity": s.capacity,
                        "active": True,
                    },
                )
            )
            first = s.name.split()[0].lower()
            last = slug(s.name.split()[1])
            work.append(
                api.call(
                    "closing",
                    "PUT",
                    f"/sellers/{s.seller_id}/card?organisation_id={s.org_id}",
                    as_=ops,
                    body={
                        "seller_id": s.seller_id,
                        "name": s.name,
                        "title": s.title,
                        "phone": s.phone,
                        "email": f"{first}.{last}@{org.domain}",
                        "company": org.company,
                        "timezone": "Europe/Helsinki",
                    },
                )
            )
        bar = prog.add_task("Ops: sellers, cards, bundle prices, policies", total=len(work))
        await demo.gather_bounded(work, bar, prog)
