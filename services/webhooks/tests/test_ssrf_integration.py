"""SSRF: in the production profile, no delivery to loopback, private or link-local
addresses - neither when subscribing nor when the host later resolves to one."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from kauppa.devkit.testing import eventually
from kauppa.webhooks.domain.signing import new_secret
from kauppa.webhooks.repository import ATTEMPTS, SUBSCRIPTIONS

from .conftest import Receiver, StartService, http, ops, org, publish, subscribe, verdicts

pytestmark = pytest.mark.integration


async def test_private_targets_are_refused_in_the_production_profile(
    start_service: StartService, receiver: Receiver, kafka_settings: Any
) -> None:
    production = kafka_settings.model_copy(update={"profile": "production"})
    # Outside the local profile the kit refuses the shipped JWT secret and no issuer.
    rt = await start_service(
        kafka=production, jwt_secret="a-test-secret-" + "x" * 32, jwt_issuer="kauppa-tests"
    )
    assert not rt.settings.local
    o = org()
    async with http(rt) as client:
        for url in (
            f"https://127.0.0.1:{receiver.port}/x",
            f"https://localhost:{receiver.port}/x",  # resolves to loopback
            "https://10.0.0.7/x",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/x",  # an IPv6 literal: not even in the schema
            "https://user:pw@hooks.example.com/x",  # credentials: neither
            "http://hooks.example.com/x",  # http outside the local profile
        ):
            r = await client.post(
                "/subscriptions",
                json={"organisation_id": o, "url": url, "event_types": ["LeadAssigned"]},
                headers=ops(rt),
            )
            assert r.status_code == 422, (url, r.text)
            detail = r.json()["detail"]
            if "[" in url or "@" in url:
                assert detail[0]["loc"] == ["body", "url"], detail
            else:
                assert "url refused" in detail
    # A subscription whose host resolves to loopback later (DNS changed since it was
    # made): the sender checks every attempt, refuses and records it, sends nothing.
    sid = f"whsub_{uuid.uuid4().hex[:20]}"
    await rt.db[SUBSCRIPTIONS].insert_one(
        {
            "_id": sid,
            "organisation_id": o,
            "url": f"https://localhost:{receiver.port}/x",
            "event_types": ["LeadAssigned"],
            "filters": {},
            "state": "active",
            "secrets": [{"secret": new_secret(), "expires_at": None}],
        }
    )
    await publish(rt, verdicts(o, f"lead-{uuid.uuid4().hex[:8]}", "s")[1:2])
    attempt = await eventually(lambda: rt.db[ATTEMPTS].find_one({"subscription_id": sid}))
    assert attempt["result"] == "refused" and "loopback" in attempt["error"]
    await asyncio.sleep(0.2)
    assert receiver.requests == []


async def test_the_local_profile_allows_http_to_loopback(
    start_service: StartService, receiver: Receiver
) -> None:
    rt = await start_service()
    assert rt.settings.local
    sub = await subscribe(rt, org(), receiver.url("/ok"))
    assert sub["state"] == "active" and "secret" in sub and sub["secrets"][0]["expires_at"] is None
