"""Routing what-if (issue #21, part 3) on a real broker and mongod: leads taken in, routed,
reminded, reassigned and decided by the live service on a moved clock; then POST /what-if
replays them. The unchanged roster reproduces what happened exactly; without a seller,
exactly that seller's lead moves, to nobody, and says why. Ops of the organisation only."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from kauppa.contracts import LeadQualified, examples
from kauppa.devkit.testing.http import asgi_client, bearer
from kauppa.handoff.api import router
from kauppa.servicekit.clock import ManualClock
from kauppa.servicekit.http import create_app
from kauppa.servicekit.runtime import ServiceRuntime

from .support import new_org

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)


async def _take_in(client: httpx.AsyncClient, rt: ServiceRuntime, lead: LeadQualified) -> None:
    body = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "type": LeadQualified.ce_type(),
        "source": "https://crm.example/upstream",
        "data": lead.model_dump(mode="json"),
    }
    r = await client.post(
        "/intake/lead-qualified",
        content=json.dumps(body),
        headers={
            "content-type": "application/cloudevents+json",
            **bearer(rt.settings, "crm", "intake"),
        },
    )
    assert r.status_code == 202, r.text


async def _accept(client: httpx.AsyncClient, rt: ServiceRuntime, org: str, lead: str, by: str):
    r = await client.post(
        f"/leads/{lead}/verdict",
        json={"verdict": "accept"},
        headers=bearer(rt.settings, by, "seller", organisation_id=org),
    )
    assert r.status_code == 200, r.text


async def test_what_if_replays_the_recorded_leads_and_is_for_the_organisations_ops(
    start_handoff,
):
    clock = ManualClock(T0)
    rt = await start_handoff(clock=clock, reminder_after_hours=1, reassign_after_hours=2)
    org = new_org()
    ops = bearer(rt.settings, "ops-1", "ops", organisation_id=org)
    app = create_app(rt, [router], manage_runtime=False)
    async with asgi_client(app) as client:
        for seller_id, profile in {
            "a": {"capacity": 1, "languages": ["fi"]},
            "b": {"capacity": 1, "languages": ["fi"]},
            "c": {"capacity": 5, "regions": ["south"]},
        }.items():
            r = await client.put(
                f"/sellers/{seller_id}", json={"organisation_id": org, **profile}, headers=ops
            )
            assert r.status_code == 201, r.text

        def lead(region: str = "north", locale: str = "fi-FI") -> LeadQualified:
            prospect = examples.prospect(region=region, locale=locale)
            return examples.lead_qualified(organisation_id=org, prospect=prospect)

        leads = [lead(), lead(), lead(), lead("south"), lead("east", "sv-FI")]
        ids = [x.lead_id for x in leads]

        async def at(minutes: int) -> None:
            clock.set(T0 + timedelta(minutes=minutes))
            await rt.timers.fire_due()

        # The live story (X = 1 h, Y = 2 h, clock hours): L1 -> a, L2 -> b, L3 waits; L1's
        # verdict lets a take L3; L2 is reminded, then leaves b and waits (a is full);
        # L3's verdict lets a take L2, who decides; L4 is the south's; L5 speaks Swedish.
        await at(0)
        await _take_in(client, rt, leads[0])
        await at(10)
        await _take_in(client, rt, leads[1])
        await at(20)
        await _take_in(client, rt, leads[2])
        await at(30)
        await _accept(client, rt, org, ids[0], "a")
        for minute in (70, 90, 130):
            await at(minute)
        await at(140)
        await _accept(client, rt, org, ids[2], "a")
        await at(170)
        await _accept(client, rt, org, ids[1], "a")
        await at(200)
        await _take_in(client, rt, leads[3])
        await at(220)
        await _take_in(client, rt, leads[4])
        await at(250)  # the replay's horizon: before L4's reminder

        stored = {d["_id"]: d async for d in rt.db["leads"].find({"organisation_id": org})}
        assert [stored[i].get("sellers_tried") for i in ids] == [
            ["a"], ["b", "a"], ["a"], ["c"], None,
        ]  # fmt: skip
        assert stored[ids[1]]["reassignments"] == 1 and stored[ids[4]]["status"] == "queued"
        sellers_before = await rt.db["sellers"].find({"organisation_id": org}).to_list()

        # Unchanged: what happened, exactly.
        r = await client.post("/what-if", json={}, headers=ops)
        assert r.status_code == 200, r.text
        same = r.json()
        assert same["leads"] == 5 and not same["truncated"]
        assert same["changes"] == []
        assert same["owner_changed"] == 0 and same["first_seller_changed"] == 0
        assert same["actual"] == same["proposed"]
        assert same["proposed"]["reminders"] == 2 and same["proposed"]["reassignments"] == 1
        assert same["proposed"]["waiting_by_reason"] == {"no_seller_for_language": 1}
        loads = {s["seller_id"]: (s["actual"], s["proposed"]) for s in same["sellers"]}
        assert loads == {"a": (3, 3), "b": (0, 0), "c": (1, 1)}

        # Without b: exactly b's lead moves; with a full and b gone, it lapses at a and
        # nobody may take it.
        r = await client.post("/what-if", json={"remove": ["b"]}, headers=ops)
        assert r.status_code == 200, r.text
        gone = r.json()
        assert gone["changes"] == [
            {
                "lead_id": ids[1],
                "actual": "a",
                "proposed": None,
                "proposed_reason": "all_sla_expired",
            }
        ]
        assert gone["proposed"]["waiting_by_reason"] == {
            "all_sla_expired": 1,
            "no_seller_for_language": 1,
        }
        # A Swedish-speaking seller added, a's capacity raised: nobody waits.
        r = await client.post(
            "/what-if",
            json={"sellers": {"a": {"capacity": 3}, "s": {"languages": ["sv"]}}, "weeks": 1},
            headers=ops,
        )
        assert r.status_code == 200, r.text
        assert r.json()["proposed"]["waiting"] == 0 and r.json()["proposed"]["queued"] == 0

        # Nothing live changed.
        assert await rt.db["sellers"].find({"organisation_id": org}).to_list() == sellers_before
        after = {d["_id"]: d async for d in rt.db["leads"].find({"organisation_id": org})}
        assert after == stored

        # Ops of the organisation only; bounds are refused; an unknown seller is named.
        seller = bearer(rt.settings, "a", "seller", organisation_id=org)
        other = bearer(rt.settings, "ops-x", "ops", organisation_id=new_org())
        refusals: list[tuple[dict[str, Any], dict[str, Any], int]] = [
            ({}, seller, 403),
            ({"organisation_id": org}, other, 403),
            ({"weeks": 13}, ops, 422),
            ({"max_leads": 50_001}, ops, 422),
        ]
        for body, headers, status in refusals:
            r = await client.post("/what-if", json=body, headers=headers)
            assert r.status_code == status, (body, r.text)
        r = await client.post("/what-if", json={"remove": ["nobody", "b"]}, headers=ops)
        assert r.json()["not_on_roster"] == ["nobody"] and r.json()["owner_changed"] == 1
        # Another organisation's ops see their own (empty) history, never this one's.
        r = await client.post("/what-if", json={}, headers=other)
        assert r.status_code == 200 and r.json()["leads"] == 0
        # A bound of leads keeps the most recent.
        r = await client.post("/what-if", json={"max_leads": 2}, headers=ops)
        assert r.json()["leads"] == 2 and r.json()["truncated"]
