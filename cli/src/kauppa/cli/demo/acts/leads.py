"""Acts 2 and 3: upstream systems send qualified leads (D1 gate, duplicates, routing);
sellers accept or return them (D3), over HTTP or Kafka."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from kauppa.cli.demo.cast import RETURN_TEXT, SOURCE_SYSTEM
from kauppa.cli.demo.client import DemoError
from kauppa.cli.demo.context import Demo
from kauppa.cli.demo.feed import until_count
from kauppa.cli.demo.plan import LeadPlan
from kauppa.contracts import LeadVerdictSubmitted, ReturnReason, Verdict


def read_decision(demo: Demo, plan: LeadPlan) -> bool:
    """The plan's status from handoff's events so far; whether the lead is decided."""
    if demo.ev("LeadRejected", lead_id=plan.lead_id):
        plan.status = "rejected"
    elif demo.ev("LeadLinkedAsDuplicate", lead_id=plan.lead_id):
        plan.status = "duplicate"
    elif assigned := demo.ev("LeadAssigned", lead_id=plan.lead_id):
        if plan.status == "sent":
            plan.status = "assigned"
        plan.seller_id = assigned[-1].seller_id
    return plan.status != "sent"


async def send_leads(demo: Demo) -> None:
    with demo.progress() as prog:
        sent = prog.add_task("Upstream systems send qualified leads", total=len(demo.plans))
        decided = prog.add_task("Handoff: D1 gate, duplicates, routing", total=len(demo.plans))
        # Duplicates are sent after their originals, as a partner re-sending a list would.
        ordered = sorted(demo.plans, key=lambda p: p.duplicate_of is not None)
        for i in range(0, len(ordered), 25):
            chunk = ordered[i : i + 25]
            now = demo.clock.now()
            for p in chunk:
                p.event = p.event.model_copy(update={"qualified_at": now})
            await demo.publish([p.event for p in chunk], source=SOURCE_SYSTEM)
            prog.advance(sent, len(chunk))
            await asyncio.sleep(0.05)

        # Leads waiting in the unassigned queue get a seller when verdicts free one:
        # half of them decided is enough to go on.
        await until_count(
            lambda: sum(read_decision(demo, p) for p in demo.plans),
            (len(demo.plans) + 1) // 2,
            demo.timeout,
            lambda n: prog.update(decided, completed=n),
        )
        if all(p.status == "sent" for p in demo.plans):
            raise DemoError(
                "handoff did not decide any lead in time: see .local/run/logs/handoff.log"
            )


# -------------------------------------------------------------- 3. verdicts


async def _verdict(demo: Demo, plan: LeadPlan) -> None:
    api = demo.api
    assert api is not None and plan.seller_id is not None
    reason = None if plan.accept else plan.return_reason
    text = RETURN_TEXT.get(reason or "")
    if plan.via_kafka_verdict:
        await demo.publish(
            [
                LeadVerdictSubmitted(
                    lead_id=plan.lead_id,
                    seller_id=plan.seller_id,
                    verdict=Verdict.ACCEPT if plan.accept else Verdict.RETURN,
                    reason_code=ReturnReason(reason) if reason else None,
                    reason_text=text,
                    submitted_at=demo.clock.now(),
                )
            ],
            source="sellers-crm-app",
        )
    else:
        body: dict[str, Any] = {"verdict": "accept" if plan.accept else "return"}
        if reason:
            body |= {"reason_code": reason, "reason_text": text}
        await api.call(
            "handoff",
            "POST",
            f"/leads/{plan.lead_id}/verdict",
            as_=(plan.seller_id, "seller"),
            body=body,
            ok=(200, 201, 409),
        )


async def give_verdicts(demo: Demo) -> None:
    given: set[str] = set()
    with demo.progress() as prog:
        bar = prog.add_task("Sellers accept or return their leads (D3)", total=None)
        last_progress = time.monotonic()
        deadline = time.monotonic() + demo.timeout
        while time.monotonic() < deadline:
            for p in demo.plans:
                read_decision(demo, p)
            waiting = [p for p in demo.plans if p.status == "assigned" and p.lead_id not in given]
            routable = [p for p in demo.plans if p.status not in ("rejected", "duplicate")]
            prog.update(bar, total=len(routable), completed=len(given))
            if waiting:
                given.update(p.lead_id for p in waiting)
                await asyncio.gather(*(_verdict(demo, p) for p in waiting))
                prog.update(bar, completed=len(given))
                last_progress = time.monotonic()
                continue
            if len(given) >= len(routable) and all(p.status != "sent" for p in demo.plans):
                break
            if time.monotonic() - last_progress > 30:
                break  # the rest wait in the unassigned queue
            await asyncio.sleep(0.2)
        outcome = prog.add_task("Handoff: verdicts back to the sources", total=len(given))

        def settled(p: LeadPlan) -> bool:
            if demo.ev("LeadAccepted", lead_id=p.lead_id):
                p.status = "accepted"
            elif demo.ev("LeadReturned", lead_id=p.lead_id):
                p.status = "returned"
            return p.status in ("accepted", "returned")

        mine = [p for p in demo.plans if p.lead_id in given]
        await until_count(
            lambda: sum(map(settled, mine)),
            len(mine),
            60,
            lambda n: prog.update(outcome, completed=n),
        )
    queued = sum(p.status in ("sent", "assigned") for p in demo.plans)
    if queued:
        demo.console.print(
            f"[yellow]{queued} lead(s) still wait for a seller or a verdict[/] "
            "(the dashboard shows the unassigned queue)."
        )
