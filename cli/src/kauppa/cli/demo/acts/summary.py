"""The closing tables: leads by source, what happened, where to look."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from kauppa.cli.demo.acts.digest import digest_note
from kauppa.cli.demo.acts.what_if import what_if_note
from kauppa.cli.demo.cast import SOURCES
from kauppa.cli.demo.context import Demo
from kauppa.cli.demo.webhook_receiver import until_delivered
from rich.table import Table


async def summary(demo: Demo, seconds: float) -> dict[str, Any]:
    await asyncio.sleep(1.0)  # let the last events arrive
    table = Table(title=f"Demo run {demo.run_id}: leads by source (D2-D4)")
    for col in (
        "source",
        "leads",
        "gate rejected",
        "duplicates",
        "accepted",
        "returned",
        "closed",
        "lost",
        "open",
    ):
        table.add_column(col, justify="left" if col == "source" else "right")
    for s in SOURCES:
        ps = [p for p in demo.plans if p.source is s]
        table.add_row(
            s.label,
            str(len(ps)),
            str(sum(p.status == "rejected" for p in ps)),
            str(sum(p.status == "duplicate" for p in ps)),
            str(sum(p.status == "accepted" for p in ps)),
            str(sum(p.status == "returned" for p in ps)),
            str(sum(p.deal_state == "closed" for p in ps)),
            str(sum(p.deal_state == "lost" for p in ps)),
            str(sum(p.deal_state == "open" for p in ps)),
        )
    demo.console.print(table)
    deal_ids = {p.deal_id for p in demo.plans if p.deal_id}
    customer_ids = {p.customer_id for p in demo.plans if p.customer_id}
    if demo.hooks is not None and demo.api is not None:
        await until_delivered(demo.api, demo.hooks, timeout=30)
    await what_if_note(demo)
    returns = Counter(
        e.reason_code.value
        for e in demo.ev("LeadReturned")
        if e.lead_id.startswith(f"lead-{demo.run_id}")
    )
    facts = {
        "run_id": demo.run_id,
        "leads": len(demo.plans),
        "deals_opened": len(deal_ids),
        "deals_closed": sum(e.deal_id in deal_ids for e in demo.ev("DealClosed")),
        "deals_lost": sum(e.deal_id in deal_ids for e in demo.ev("DealLost")),
        "confirmations_sent": len(
            {e.deal_id for e in demo.ev("ConfirmationSent") if e.deal_id in deal_ids}
        ),
        "confirmations_failed": sum(e.deal_id in deal_ids for e in demo.ev("ConfirmationFailed")),
        "contact_due": sum(e.customer_id in customer_ids for e in demo.ev("ContactDue")),
        "feedback_calls_completed": sum(
            e.customer_id in customer_ids for e in demo.ev("FeedbackCallCompleted")
        ),
        "problems_reported": sum(e.customer_id in customer_ids for e in demo.ev("ProblemReported")),
        "problems_resolved": sum(e.customer_id in customer_ids for e in demo.ev("ProblemResolved")),
        "return_reasons": dict(returns),
        **{k.replace(" ", "_"): v for k, v in demo.stats.items()},
        **(demo.hooks.facts() if demo.hooks is not None else {}),
        "seconds": round(seconds, 1),
    }
    flow = Table(title="What happened", show_header=False)
    for k, v in facts.items():
        if k not in ("run_id", "return_reasons", "webhook_deliveries_by_type"):
            flow.add_row(k.replace("_", " "), str(v))
    flow.add_row("return reasons", ", ".join(f"{k} {v}" for k, v in returns.most_common()))
    if demo.hooks is not None:
        by_type = demo.hooks.facts()["webhook_deliveries_by_type"]
        flow.add_row(
            f"webhook deliveries by type ({demo.hooks.verified_with})",
            ", ".join(f"{k} {v}" for k, v in by_type.items()),
        )
    demo.console.print(flow)
    facts.update(await digest_note(demo))
    dashboard = demo.urls.get("dashboard", "http://127.0.0.1:8100")
    mails = demo.state.get("smtp", {}).get("ui", "http://127.0.0.1:8025")
    demo.console.print(
        f"\n[bold]Where to look[/]\n  dashboard  {dashboard}  (token: `kauppa token ops`)\n"
        f"  mail sink  {mails}  (the order confirmations; each business morning, "
        "every seller's daily digest)\n"
        f"  source quality  {demo.urls['handoff']}/docs  GET /stats/sources"
        "?organisation_id=org-pohjola\n"
        f"Done in {seconds:.0f} s. Confirmations scheduled for the next business morning "
        "and the feedback calls still to come keep arriving while the system runs."
    )
    return facts
