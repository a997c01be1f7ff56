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


async def _digest_seller(demo: Demo) -> tuple[str, str] | None:
    """A seller the followup service knows (a closed deal brought their card) whose
    next digest has something to list: an overdue contact (a morning with nothing
    to list is skipped); else the first such seller."""
    sellers = list(
        dict.fromkeys(
            (p.org.org_id, p.seller_id)
            for p in demo.plans
            if p.deal_state == "closed" and p.seller_id
        )
    )
    if demo.api is None:
        return None
    for org, seller in sellers[:20]:
        try:
            r = await demo.api.call(
                "followup",
                "GET",
                f"/sellers/{seller}/contacts?when=overdue&organisation_id={org}",
                as_=(seller, "seller"),
            )
        except (DemoError, httpx.HTTPError):
            continue
        if r.json().get("contacts"):
            return org, seller
    return sellers[0] if sellers else None


async def digest_note(demo: Demo) -> dict[str, Any]:
    """The first seller's daily digest (followup, D15/D16): it goes out the next
    business morning at the organisation's hour in the seller's zone. When that is
    at most ``digest_wait`` real seconds away, wait for it and say where it landed;
    otherwise say when it will. Returns the facts (``digest_state``)."""
    picked = await _digest_seller(demo)
    if picked is None or demo.api is None:
        return {}
    org, seller = picked
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
    return {"digest_state": state or "not sent", "digest_day": latest.get("day", day)}
