"""The dashboard's routing what-if (issue #21, part 3) against a real handoff served over
HTTP, both on the real broker and mongod: the proposal goes through with the caller's
token and handoff's answer comes back; the organisation scope holds at both ends; a
handoff that does not answer is a 503."""

from __future__ import annotations

import uuid

import pytest
from kauppa.dashboard.api import router
from kauppa.devkit.embedded.servers import free_port
from kauppa.devkit.testing.http import asgi_client, bearer
from kauppa.handoff.api import router as handoff_router
from kauppa.servicekit.http import create_app

from .browser import serving
from .what_if_support import PROPOSAL, seed_routing_history

pytestmark = pytest.mark.integration


async def test_what_if_is_forwarded_to_handoff_with_the_callers_token(
    start_dashboard, start_handoff
):
    handoff = await start_handoff()
    org = f"org-wi-{uuid.uuid4().hex[:8]}"
    handoff_app = create_app(handoff, [handoff_router], manage_runtime=False)
    async with (
        asgi_client(handoff_app) as direct,
        serving(handoff_app, free_port()) as handoff_url,
    ):
        await seed_routing_history(direct, handoff, org)
        rt = await start_dashboard(service_urls={"handoff": handoff_url})
        async with asgi_client(create_app(rt, [router], manage_runtime=False)) as http:
            ops = bearer(rt.settings, "ops-1", "ops", organisation_id=org)
            r = await http.post("/api/what-if", json=PROPOSAL, headers=ops)
            assert r.status_code == 200, r.text
            got = r.json()
            # The same answer as handoff's own (but when it ran and how long it took).
            d = await direct.post("/what-if", json=PROPOSAL, headers=ops)
            assert d.status_code == 200, d.text
            timing = {"since": 0, "until": 0, "seconds": 0}
            assert {**got, **timing} == {**d.json(), **timing}

            assert got["organisation_id"] == org and got["leads"] == 3
            per_seller = {s["seller_id"]: (s["actual"], s["proposed"]) for s in got["sellers"]}
            assert per_seller == {"fi-a": (2, 0), "sv-b": (1, 1)}
            assert got["owner_changed"] == 2
            assert got["proposed"]["waiting"] == 2 and got["actual"]["waiting"] == 0
            assert {c["proposed"] for c in got["changes"]} == {None}

            # A platform ops token names the organisation; a tenant-bound one of another
            # organisation is refused by the dashboard, a seller by both.
            platform = bearer(rt.settings, "ops-p", "ops")
            r = await http.post(
                "/api/what-if", json={**PROPOSAL, "organisation_id": org}, headers=platform
            )
            assert r.status_code == 200 and r.json()["owner_changed"] == 2, r.text
            r = await http.post("/api/what-if", json=PROPOSAL, headers=platform)
            assert r.status_code == 422, r.text
            other = bearer(rt.settings, "ops-2", "ops", organisation_id="org-other")
            r = await http.post(
                "/api/what-if", json={**PROPOSAL, "organisation_id": org}, headers=other
            )
            assert r.status_code == 403, r.text
            seller = bearer(rt.settings, "fi-a", "seller", organisation_id=org)
            r = await http.post("/api/what-if", json=PROPOSAL, headers=seller)
            assert r.status_code == 403, r.text
            bad = {"sellers": {"new-1": {"capacity": -1}}}
            r = await http.post("/api/what-if", json=bad, headers=ops)
            assert r.status_code == 422 and "capacity" in r.text, r.text
            r = await http.post("/api/what-if", json={"weeks": 13}, headers=ops)
            assert r.status_code == 422, r.text

        # Handoff's own refusal comes back as it said it: a dashboard that trusts tokens
        # handoff does not (another signing secret) gets handoff's 401.
        other_secret = await start_dashboard(
            service_urls={"handoff": handoff_url}, jwt_secret="not-handoffs-secret-0123456789"
        )
        async with asgi_client(create_app(other_secret, [router], manage_runtime=False)) as http:
            r = await http.post(
                "/api/what-if",
                json=PROPOSAL,
                headers=bearer(other_secret.settings, "ops-1", "ops", organisation_id=org),
            )
            assert r.status_code == 401, r.text


async def test_what_if_answers_503_when_handoff_does_not(start_dashboard):
    rt = await start_dashboard(service_urls={"handoff": f"http://127.0.0.1:{free_port()}"})
    async with asgi_client(create_app(rt, [router], manage_runtime=False)) as http:
        ops = bearer(rt.settings, "ops-1", "ops", organisation_id="org-x")
        r = await http.post("/api/what-if", json=PROPOSAL, headers=ops)
        assert r.status_code == 503 and "handoff" in r.json()["detail"], r.text
    rt2 = await start_dashboard(service_urls={})
    async with asgi_client(create_app(rt2, [router], manage_runtime=False)) as http:
        r = await http.post("/api/what-if", json=PROPOSAL, headers=ops)
        assert r.status_code == 503, r.text
