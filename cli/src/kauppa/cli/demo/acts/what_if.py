"""Routing what-if (handoff, issue #21) on this run's leads, in one line."""

from __future__ import annotations

from collections import Counter

import httpx
from kauppa.cli.demo.cast import ORGS
from kauppa.cli.demo.client import DemoError
from kauppa.cli.demo.context import Demo


async def what_if_note(demo: Demo) -> None:
    """Routing what-if (handoff, issue #21): the first organisation's last 4 weeks of
    leads replayed without the seller who got most of this run's; one summary line."""
    org = ORGS[0].org_id
    got = Counter(
        e.seller_id
        for e in demo.ev("LeadAssigned", organisation_id=org)
        if e.lead_id.startswith(f"lead-{demo.run_id}")
    )
    if not got or demo.api is None:
        return
    seller = got.most_common(1)[0][0]
    try:
        r = await demo.api.call(
            "handoff",
            "POST",
            "/what-if",
            as_=("demo-ops", "ops"),
            body={"organisation_id": org, "weeks": 4, "remove": [seller]},
        )
    except (DemoError, httpx.HTTPError) as exc:
        demo.console.print(f"[yellow]routing what-if did not run:[/] {exc}")
        return
    result = r.json()
    nobody = result["proposed"]["waiting"]
    why = ", ".join(f"{k} {v}" for k, v in result["proposed"]["waiting_by_reason"].items())
    demo.stats["what_if_owner_changed"] = result["owner_changed"]
    demo.stats["what_if_nobody_could_take"] = nobody
    demo.console.print(
        f"Routing what-if without {seller} in {org} ({result['leads']} leads, last 4 "
        f"weeks): {result['owner_changed']} leads change owner, {nobody} leads nobody "
        f"could take{f' ({why})' if why else ''}. Try your own: `kauppa routing what-if "
        "FILE` or the dashboard's what-if panel."
    )
