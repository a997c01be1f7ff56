"""Act 7: sellers make the feedback calls, report problems, fix them and set next
contacts (D13-D15)."""

from __future__ import annotations

from typing import Any

from kauppa.cli.demo.context import Demo
from kauppa.cli.demo.feed import until, until_count
from kauppa.cli.demo.plan import LeadPlan


def feedback_contact(demo: Demo, p: LeadPlan) -> Any | None:
    found = demo.ev("NextContactScheduled", customer_id=p.customer_id, kind="feedback_call")
    return found[-1] if found else None


async def feedback_calls(demo: Demo) -> None:
    api = demo.api
    assert api is not None
    delivered = [
        p for p in demo.plans if p.deal_state == "closed" and p.delivered and p.customer_id
    ]
    contacts = {p.lead_id: feedback_contact(demo, p) for p in delivered}
    due_times = [c.due_at for c in contacts.values() if c is not None]
    if due_times:
        last = max(due_times)
        wait = demo.clock.real_seconds(last - demo.clock.now())
        with demo.progress() as prog:
            bar = prog.add_task("Feedback calls come due (ContactDue)", total=len(delivered))

            def due(p: LeadPlan) -> bool:
                c = contacts[p.lead_id]
                return c is not None and bool(demo.ev("ContactDue", contact_id=c.contact_id))

            if wait <= demo.followup_wait:
                await until_count(
                    lambda: sum(map(due, delivered)),
                    len(delivered),
                    min(wait + 15, demo.followup_wait + 15),
                    lambda n: prog.update(bar, completed=n),
                )
            else:
                prog.update(bar, completed=sum(map(due, delivered)))
                demo.console.print(
                    f"Feedback calls fall due from {min(due_times):%a %d.%m. %H:%M} UTC "
                    f"business time (about {wait / 60:.0f} real minutes at {demo.speed:g}x);"
                    " sellers call some customers ahead of time, the rest stay scheduled."
                )
    calls: list[LeadPlan] = []
    for p in delivered:
        c = contacts[p.lead_id]
        if c is None:
            continue
        if demo.ev("ContactDue", contact_id=c.contact_id) or p.call_ahead:
            calls.append(p)
    with demo.progress() as prog:
        bar = prog.add_task("Sellers log feedback calls (D13-D15)", total=len(calls))
        await demo.gather_bounded(
            [_feedback_call(demo, p, contacts[p.lead_id]) for p in calls], bar, prog
        )
        problems = [p for p in calls if p.problem]
        fixed = prog.add_task("Problems fixed, next contacts set (D14)", total=len(problems))

        async def fix(p: LeadPlan) -> None:
            ok = await until(
                lambda: bool(demo.ev("ProblemReported", customer_id=p.customer_id)), 30
            )
            if not ok:
                return
            ids = [e.problem_id for e in demo.ev("ProblemReported", customer_id=p.customer_id)]
            await api.call(
                "followup",
                "POST",
                f"/customers/{p.customer_id}/contacts",
                as_=(p.seller_id or "", "seller"),
                body={
                    "resolved_problem_ids": ids,
                    "delivery_ok": True,
                    "notes": "Fixed: " + (p.problem or "").lower(),
                    "next_contact_on": demo.vdate(90).isoformat(),
                },
            )
            demo.stats["problems fixed"] += len(ids)

        await demo.gather_bounded([fix(p) for p in problems], fixed, prog)
    demo.stats["feedback calls logged"] = len(calls)


async def _feedback_call(demo: Demo, p: LeadPlan, contact: Any) -> None:
    api = demo.api
    assert api is not None
    body: dict[str, Any] = {
        "contact_id": contact.contact_id,
        "delivery_ok": p.problem is None,
        "problems": [p.problem] if p.problem else [],
        "upsell_interest": p.upsell_interest and p.problem is None,
        "notes": "Feedback call after delivery",
    }
    if p.referral_on_call:
        body["referrals"] = [
            {
                "name": "Tiina Toivonen",
                "company": "Toivon Metalli Oy",
                "phone": "+358 40 555 0199",
                "note": "Asked on the feedback call (D13)",
            }
        ]
    if p.next_contact_days is not None:
        body["next_contact_on"] = demo.vdate(p.next_contact_days).isoformat()
    await api.call(
        "followup",
        "POST",
        f"/customers/{p.customer_id}/contacts",
        as_=(p.seller_id or "", "seller"),
        body=body,
    )
