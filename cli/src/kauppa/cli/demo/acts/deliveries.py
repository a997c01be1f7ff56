"""Acts 5 and 6: the written confirmations (D11, D12), then the ERP's deliveries and the
feedback calls they schedule (D13)."""

from __future__ import annotations

from decimal import Decimal

from kauppa.cli.demo.acts.feedback import feedback_contact
from kauppa.cli.demo.context import Demo
from kauppa.cli.demo.feed import until, until_count
from kauppa.cli.demo.plan import LeadPlan
from kauppa.contracts import DeliveredItem, DeliveryCompleted


async def confirmations(demo: Demo) -> None:
    closed = [p for p in demo.plans if p.deal_state == "closed"]
    immediate = [p for p in closed if p.org.policy == "immediate"]

    def sent(plans: list[LeadPlan]) -> int:
        return sum(bool(demo.ev("ConfirmationSent", deal_id=p.deal_id)) for p in plans)

    with demo.progress() as prog:
        sched = prog.add_task("Confirmations drafted (D11, D12)", total=len(closed))
        now_bar = prog.add_task("Confirmations sent", total=len(closed))

        def tick() -> None:
            prog.update(
                sched,
                completed=sum(
                    bool(demo.ev("ConfirmationScheduled", deal_id=p.deal_id)) for p in closed
                ),
            )
            prog.update(now_bar, completed=sent(closed))

        await until(
            lambda: (
                all(demo.ev("ConfirmationScheduled", deal_id=p.deal_id) for p in closed)
                and sent(immediate) >= len(immediate)
            ),
            min(demo.timeout, 120),
            tick,
        )
    later = [p for p in closed if not demo.ev("ConfirmationSent", deal_id=p.deal_id)]
    if later:
        send_at = [
            s.send_at
            for p in later
            for s in demo.ev("ConfirmationScheduled", deal_id=p.deal_id)
            if s.send_at
        ]
        if send_at:
            first = min(send_at)
            real = demo.clock.real_seconds(first - demo.clock.now())
            when = f"{real / 60:.1f} real minutes" if real >= 60 else f"{real:.0f} real seconds"
            demo.console.print(
                f"{len(later)} confirmation(s) go out the next business morning "
                f"({first:%a %H:%M} UTC business time, in about {when}): "
                "watch the mail sink."
            )


# -------------------------------------------------------------- 6. ERP deliveries


async def deliveries(demo: Demo) -> None:
    closed = [p for p in demo.plans if p.deal_state == "closed" and p.customer_id]
    delivered = [p for p in closed if p.delivered]
    with demo.progress() as prog:
        known = prog.add_task("Followup takes on the new customers", total=len(closed))
        # The customer's seller is known to followup once it has seen the DealClosed.
        await until_count(
            lambda: sum(
                bool(demo.ev("NextContactScheduled", customer_id=p.customer_id)) for p in closed
            ),
            len(closed),
            demo.timeout,
            lambda n: prog.update(known, completed=n),
        )
        bar = prog.add_task("ERP reports deliveries", total=len(delivered))
        events = []
        for p in delivered:
            assert p.deal_id and p.customer_id
            items = [DeliveredItem(product_code=c, quantity=Decimal(q)) for c, q in p.products]
            if p.upsell:
                items.append(DeliveredItem(product_code=p.upsell, quantity=Decimal(1)))
            events.append(
                DeliveryCompleted(
                    delivery_id=f"dlv-{p.lead_id}",
                    deal_id=p.deal_id,
                    customer_id=p.customer_id,
                    organisation_id=p.org.org_id,
                    items=items,
                    delivered_at=demo.clock.now(),
                    notes="Delivered complete" if not p.problem else None,
                )
            )
        await demo.publish(events, source="erp")
        prog.update(bar, completed=len(events))
        scheduled = prog.add_task("Feedback calls scheduled (D13)", total=len(delivered))

        await until_count(
            lambda: sum(feedback_contact(demo, p) is not None for p in delivered),
            len(delivered),
            demo.timeout,
            lambda n: prog.update(scheduled, completed=n),
        )
