"""Act 8: the CRM classifies customers and a law change starts a segment campaign (D17)."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from kauppa.cli.demo.cast import ORGS
from kauppa.cli.demo.context import Demo
from kauppa.cli.demo.feed import until, until_count
from kauppa.contracts import CustomerAttributes, CustomerClassificationSubmitted


async def campaign(demo: Demo) -> None:
    api = demo.api
    assert api is not None
    org = ORGS[0]
    customers = {
        p.customer_id: p
        for p in demo.plans
        if p.deal_state == "closed" and p.customer_id and p.org is org
    }
    if not customers:
        return
    now = demo.clock.now()
    events = [
        CustomerClassificationSubmitted(
            customer_id=cid,
            organisation_id=org.org_id,
            attributes=CustomerAttributes(
                industry=p.event.prospect.industry,
                size=p.event.prospect.size,
                region=p.event.prospect.region,
                products_owned=sorted({c for c, _ in p.products}),
                renewal_month=(now.month % 12) + 1,
                tags=["demo"],
            ),
            submitted_at=now,
        )
        for cid, p in customers.items()
    ]
    manufacturing = sum(p.event.prospect.industry == "manufacturing" for p in customers.values())
    criteria = {"industries": ["manufacturing"]}
    with demo.progress() as prog:
        bar = prog.add_task("CRM classifies customers (D17)", total=len(events))
        await demo.publish(events, source="crm")
        matched = 0

        async def counted() -> int:
            r = await api.call(
                "followup",
                "POST",
                "/segments/query",
                as_=("ops-demo", "ops"),
                body={"organisation_id": org.org_id, "criteria": criteria, "limit": 0},
            )
            return int(r.json()["count"])

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            matched = await counted()
            if matched >= manufacturing:
                break
            await asyncio.sleep(0.3)
        prog.update(bar, completed=len(events))
        demo.stats["manufacturing customers in segment"] = matched
        campaign_id = f"camp-{demo.run_id}-machinery-law"
        start = demo.clock.now() + timedelta(minutes=30)
        await api.call(
            "followup",
            "POST",
            "/campaigns",
            as_=("ops-demo", "ops"),
            body={
                "campaign_id": campaign_id,
                "organisation_id": org.org_id,
                "criteria": criteria,
                "reason": "Law change: the new machinery regulation affects manufacturing "
                "customers; contact them before competitors do",
                "due_from": start.isoformat(),
                "due_until": (start + timedelta(hours=3)).isoformat(),
            },
        )
        ok = await until(
            lambda: bool(demo.ev("SegmentCampaignStarted", campaign_id=campaign_id)), 60
        )
        if not ok:
            demo.console.print("[yellow]The campaign did not start in time.[/]")
            return
        total = demo.ev("SegmentCampaignStarted", campaign_id=campaign_id)[0].matched_customers
        demo.stats["campaign customers"] = total
        due = prog.add_task("Campaign contacts come due (ContactDue)", total=total)
        wait = demo.clock.real_seconds(timedelta(hours=3.5))
        if wait <= demo.followup_wait:
            await until_count(
                lambda: len(demo.ev("ContactDue", campaign_id=campaign_id)),
                total,
                wait + 20,
                lambda n: prog.update(due, completed=n),
            )
        demo.stats["campaign contacts due"] = len(demo.ev("ContactDue", campaign_id=campaign_id))
