"""Act 4: deals for accepted leads: contacts, offers, upsell lines, referrals, closes with
signature evidence (a refused incomplete close first, D9) or losses (D5-D10)."""

from __future__ import annotations

import random
import uuid
from decimal import Decimal
from typing import Any

from kauppa.cli.demo.cast import LOSS_REASONS, PRODUCTS
from kauppa.cli.demo.context import Demo
from kauppa.cli.demo.feed import until_count
from kauppa.cli.demo.plan import LeadPlan


def _money(amount: Decimal) -> dict[str, str]:
    return {"amount": str(amount), "currency": "EUR"}


def _lines(demo: Demo, plan: LeadPlan, with_upsell: bool) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = [
        {
            "product_code": code,
            "description": PRODUCTS[code].description,
            "quantity": str(qty),
            "unit_price": _money(PRODUCTS[code].price),
        }
        for code, qty in plan.products
    ]
    if with_upsell and plan.upsell:
        p = PRODUCTS[plan.upsell]
        lines.append(
            {
                "product_code": p.code,
                "description": p.description,
                "quantity": "1",
                "unit_price": _money(p.price),
                "upsell": True,
            }
        )
    return lines


async def _work_deal(demo: Demo, plan: LeadPlan) -> None:
    api = demo.api
    assert api is not None and plan.seller_id and plan.deal_id
    seller = (plan.seller_id, "seller")
    deal = f"/deals/{plan.deal_id}"
    channels = ["in_person", "remote", "phone"]
    rng = random.Random(plan.lead_id)
    for i in range(plan.contacts):
        await api.call(
            "closing",
            "POST",
            f"{deal}/contacts",
            as_=seller,
            body={
                "channel": channels[(i + len(plan.lead_id)) % 3],
                "summary": [
                    "Discovery meeting: current process and pains",
                    "Demo of the product to the team",
                    "Answered the same risk questions again (D6)",
                ][i],
            },
        )
        if i == 0:
            await api.call(
                "closing", "POST", f"{deal}/stage", as_=seller, body={"to_stage": "meeting"}
            )
    plan.offer_ref = f"OFF-{plan.lead_id[-9:]}"
    await api.call(
        "closing",
        "POST",
        f"{deal}/offers",
        as_=seller,
        body={
            "offer_ref": plan.offer_ref,
            "lines": _lines(demo, plan, with_upsell=False),
            "vat_rate": "25.5",
            "valid_until": demo.vdate(30).isoformat(),
        },
    )
    await api.call("closing", "POST", f"{deal}/stage", as_=seller, body={"to_stage": "offer"})
    if plan.referral and plan.outcome != "close":
        await api.call(
            "closing",
            "POST",
            f"{deal}/referrals",
            as_=seller,
            body={
                "name": "Pekka Puro",
                "company": "Purotekniikka Oy",
                "phone": "+358 40 555 0101",
                "note": "Sister company, same needs",
            },
        )
    if plan.outcome == "open":
        plan.deal_state = "open"  # a long deal: it stays on the buying path (D5)
        return
    if plan.outcome == "lose":
        await api.call(
            "closing",
            "POST",
            f"{deal}/lose",
            as_=seller,
            body={"reason": rng.choice(LOSS_REASONS)},
        )
        plan.deal_state = "lost"
        return
    await api.call("closing", "POST", f"{deal}/stage", as_=seller, body={"to_stage": "closing"})
    signed_by = plan.event.prospect.contact.name if plan.event.prospect.contact else None
    signature: dict[str, Any] = {"method": plan.signature, "signed_by": signed_by}
    if plan.signature == "onsite_signed_form":
        signature |= {
            "document_ref": f"ORDER-{plan.lead_id[-9:]}",
            "document_url": f"https://docs.{plan.org.domain}/orders/{plan.lead_id}.pdf",
        }
    elif plan.signature == "accepted_offer":
        signature |= {"offer_ref": plan.offer_ref, "accepted_at": demo.clock.now().isoformat()}
    else:
        signature |= {"envelope_id": f"env-{uuid.uuid4().hex[:10]}"}
    milestones = [{"on": demo.vdate(rng.randint(7, 21)).isoformat(), "description": "Licences"}]
    if plan.upsell == "TRAIN-1D":
        milestones.append({"on": demo.vdate(35).isoformat(), "description": "Training day"})
    body: dict[str, Any] = {
        "lines": (
            []
            if plan.signature == "accepted_offer" and not plan.upsell
            else _lines(demo, plan, with_upsell=True)
        ),
        "delivery_schedule": {"milestones": milestones},
        "price": {"vat_rate": "25.5", "currency": "EUR"},
        "payment_terms": {"description": "14 days net", "net_days": 14},
        "signature": signature,
        "customer_reference": f"PO-{rng.randint(1000, 9999)}" if rng.random() < 0.6 else None,
        "referrals": (
            [
                {
                    "name": "Leena Laaksonen",
                    "company": "Laakson Kone Oy",
                    "email": "leena@laaksonkone.example",
                    "note": "Asked at closing (D8)",
                }
            ]
            if plan.referral
            else []
        ),
    }
    if plan.incomplete_first_close:
        # D9: a close without payment terms is refused, naming what is missing.
        r = await api.call(
            "closing",
            "POST",
            f"{deal}/close",
            as_=seller,
            body={k: v for k, v in body.items() if k != "payment_terms"},
            ok=(422,),
        )
        if "payment_terms" in r.json().get("missing", []):
            demo.stats["close refused: missing payment terms (D9)"] += 1
    await api.call("closing", "POST", f"{deal}/close", as_=seller, body=body)
    plan.deal_state = "closed"


async def work_deals(demo: Demo) -> None:
    accepted = [p for p in demo.plans if p.status == "accepted"]
    for p in accepted:
        p.deal_id = f"deal-{p.lead_id}"
    with demo.progress() as prog:
        opened = prog.add_task("Closing opens deals for accepted leads", total=len(accepted))

        def customers_known() -> int:
            n = 0
            for p in accepted:
                if p.customer_id is None and (o := demo.ev("DealOpened", deal_id=p.deal_id)):
                    p.customer_id = o[0].customer_id
                n += p.customer_id is not None
            return n

        await until_count(
            customers_known,
            len(accepted),
            demo.timeout,
            lambda n: prog.update(opened, completed=n),
        )
        ready = [p for p in accepted if p.customer_id]
        bar = prog.add_task("Sellers: contacts, offers, upsell, closes (D5-D10)", total=len(ready))
        await demo.gather_bounded([_work_deal(demo, p) for p in ready], bar, prog)
        closed = [p for p in ready if p.deal_state == "closed"]
        seen = prog.add_task("DealClosed events", total=len(closed))
        await until_count(
            lambda: sum(bool(demo.ev("DealClosed", deal_id=p.deal_id)) for p in closed),
            len(closed),
            demo.timeout,
            lambda n: prog.update(seen, completed=n),
        )
