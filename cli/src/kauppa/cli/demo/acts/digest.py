"""The first seller's daily digest (followup, D15/D16): waited for, or announced."""

from __future__ import annotations

import asyncio
import time
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from kauppa.cli.demo.client import DemoError
from kauppa.cli.demo.context import Demo


def _digest_seller(demo: Demo) -> tuple[str, str, str] | None:
    """A seller the followup service knows (a closed deal brought their card), with
    one of their customers: (organisation, seller, customer)."""
    return next(
        (
            (p.org.org_id, p.seller_id, p.customer_id)
            for p in demo.plans
            if p.deal_state == "closed" and p.seller_id and p.customer_id
        ),
        None,
    )


async def _call_back_on(demo: Demo, org: str, seller: str, customer: str, day: str) -> None:
    """The seller logs a short call with their customer and decides to call back on
    the digest's morning (D15): that contact is then due that day, so the digest has
    something to list (a morning with nothing to list is skipped)."""
    assert demo.api is not None
    await demo.api.call(
        "followup",
        "POST",
        f"/customers/{customer}/contacts",
        as_=(seller, "seller"),
        body={"notes": "Short call: they want a call back", "next_contact_on": day},
    )


async def digest_note(demo: Demo) -> dict[str, Any]:
    """The first seller's daily digest (followup, D15/D16): it goes out the next
    business morning at the organisation's hour in the seller's zone. When that is
    at most ``digest_wait`` real seconds away, wait for it and say where it landed;
    otherwise say when it will. Returns the facts (``digest_state``)."""
    picked = _digest_seller(demo)
    if picked is None or demo.api is None:
        return {}
    org, seller, customer = picked
    path = f"/sellers/{seller}/digest?organisation_id={org}"
    try:
        mine = await demo.api.call("followup", "GET", path, as_=(seller, "seller"))
        setting = await demo.api.call(
            "followup", "GET", f"/organisations/{org}/digest", as_=("demo-ops", "ops")
        )
    except (DemoError, httpx.HTTPError):
        return {}  # only a hint: the demo goes on without it
    day = mine.json().get("next_digest_day")
    if not day:
        return {}
    hour = int(setting.json()["hour"])
    at = datetime.combine(date.fromisoformat(day), datetime.min.time()).replace(
        hour=hour, tzinfo=ZoneInfo("Europe/Helsinki")
    )
    real = max(0.0, demo.clock.real_seconds(at - demo.clock.now()))
    when = f"{real / 60:.1f} real minutes" if real >= 60 else f"{real:.0f} real seconds"
    what = "(contacts due, yearly contacts, open problems, leads waiting, quiet customers)"
    if real > demo.digest_wait:
        demo.console.print(
            f"Seller {seller}'s daily digest {what} goes out {day} {hour:02d}:00 "
            f"Helsinki time, in about {when}: watch the mail sink."
        )
        return {"digest_state": "later", "digest_day": day}
    call_backs = 0
    try:
        await _call_back_on(demo, org, seller, customer, day)
        call_backs = 1
    except (DemoError, httpx.HTTPError):
        pass  # the digest may still have something else to list
    latest: dict[str, Any] = {}
    deadline = time.monotonic() + real + 60  # its morning, then a minute to send it
    with demo.console.status(f"Seller {seller}'s daily digest for {day}: in about {when}"):
        while time.monotonic() < deadline:
            try:
                r = await demo.api.call("followup", "GET", path, as_=(seller, "seller"))
                latest = r.json().get("latest") or {}
            except (DemoError, httpx.HTTPError):
                latest = {}
            # A morning with nothing to list is skipped; a later one may send.
            if latest.get("day", "") >= day and latest.get("state") == "sent":
                break
            await asyncio.sleep(0.5)
    state = latest.get("state") if latest.get("day", "") >= day else None
    if state == "sent":
        demo.console.print(
            f"In the mail sink: seller {seller}'s daily digest for {latest['day']} {what}, "
            f"Message-ID {latest.get('message_id', '?')}."
        )
    else:
        why = latest.get("reason") or latest.get("last_error") or ""
        demo.console.print(
            f"[yellow]Seller {seller}'s daily digest for {day}:[/] {state or 'not sent'} {why}"
        )
    return {
        "digest_state": state or "not sent",
        "digest_day": latest.get("day", day),
        "digest_call_backs": call_backs,  # its ContactDue comes after the counts above
    }
