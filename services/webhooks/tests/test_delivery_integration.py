"""Delivery on the real broker, mongod and a real HTTP receiver."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kauppa.contracts import WebhookSubscriptionDisabled
from kauppa.contracts.topics import WEBHOOKS
from kauppa.dashboard.domain.health import service_health, webhook_subscriptions
from kauppa.devkit.testing import TopicReader, eventually
from kauppa.servicekit.unit_of_work import OUTBOX
from standardwebhooks.webhooks import Webhook

from .conftest import (
    Receiver,
    StartService,
    http,
    ops,
    org,
    publish,
    subscribe,
    verdicts,
)

pytestmark = pytest.mark.integration


async def test_a_failing_then_recovering_receiver_gets_every_event_in_order_signed(
    start_service: StartService, receiver: Receiver
) -> None:
    """500, then a timeout, then 429 with Retry-After, then it recovers: every event
    arrives, in order per key, each signature verifying with the reference library."""
    # The timeout is well above what a request takes on a loaded machine (a normal
    # request timing out would be one failure too many); the slow answer well above it.
    rt = await start_service(request_timeout_seconds=2.0)
    o = org()
    receiver.scripts["/hook"] = [
        (500, 0, {}),
        (500, 0, {}),
        (204, 3.5, {}),
        (429, 0, {"Retry-After": "1"}),
    ]
    sub = await subscribe(rt, o, receiver.url("/hook"))
    leads = [f"lead-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    events = [e for lead in leads for e in verdicts(o, lead, "web-form")[:4]]
    envs = await publish(rt, events)

    await eventually(
        lambda: len({r.webhook_id for r in receiver.at("/hook")}) >= len(envs), timeout=30
    )
    got = receiver.at("/hook")
    assert {r.webhook_id for r in got} == {e.id for e in envs}
    # Per key, the order published; each delivered once (the timed-out attempt was
    # answered 2xx after the sender gave up on it: that one may repeat, with its id).
    for lead in leads:
        mine = [e.id for e in envs if e.subject == lead]
        seen: list[str] = []
        for r in got:
            if r.event["subject"] == lead and r.webhook_id not in seen:
                seen.append(r.webhook_id)
        assert seen == mine
    # A 2xx answered after the timeout was not counted; at most that one repeats.
    assert len(got) - len(envs) <= 1
    wh = Webhook(sub["secret"])
    for r in got:
        payload = wh.verify(r.body, r.headers)
        assert payload["id"] == r.webhook_id
        assert payload["specversion"] == "1.0" and payload["data"]["organisation_id"] == o
    # Retry-After: the attempt after the 429 came at least a second later.
    reqs = [r for r in receiver.requests if r.path == "/hook"]
    told = reqs[3]  # the request answered 429
    again = next(r for r in reqs[4:] if r.webhook_id == told.webhook_id)
    assert again.at - told.at >= 0.95
    # Every attempt is recorded.
    async with http(rt) as client:
        # The receiver answered before the sender wrote the outcome down: wait for that.
        async def listed() -> list[dict[str, Any]]:
            path = f"/subscriptions/{sub['subscription_id']}/deliveries"
            return (await client.get(path, headers=ops(rt))).json()  # type: ignore[no-any-return]

        deliveries = await eventually(
            listed, lambda ds: len(ds) == len(envs) and all(d["state"] == "delivered" for d in ds)
        )
        logs = [
            (
                await client.get(
                    f"/subscriptions/{sub['subscription_id']}/deliveries/{d['delivery_id']}",
                    headers=ops(rt),
                )
            ).json()["attempt_log"]
            for d in deliveries
        ]
    assert all(log[-1]["status"] == 204 for log in logs)
    failed = [a for log in logs for a in log[:-1]]
    assert sorted(str(a["status"]) for a in failed) == ["429", "500", "500", "None"]
    assert next(a for a in failed if a["status"] is None)["error"].startswith("timeout")
    assert all(a["latency_ms"] is not None for log in logs for a in log)


async def test_a_source_bound_subscription_gets_exactly_its_sources_verdicts(
    start_service: StartService, receiver: Receiver
) -> None:
    """The D3 loop: each verdict kind on the source's leads, none on another's (nor on
    the same system through another partner)."""
    rt = await start_service()
    o = org()
    await subscribe(rt, o, receiver.url("/forms"), filters={"source_system": "web-form"})
    await subscribe(
        rt, o, receiver.url("/partner"), filters={"source_system": "booking", "partner": "acme"}
    )
    mine, other, partner, other_partner = (f"lead-{uuid.uuid4().hex[:8]}" for _ in range(4))
    envs = await publish(
        rt,
        verdicts(o, mine, "web-form")
        + verdicts(o, other, "hubspot")
        + verdicts(o, partner, "booking", "acme")
        + verdicts(o, other_partner, "booking", "other-partner"),
    )
    by_lead = {
        lead: {e.id for e in envs if getattr(e.event, "lead_id", None) == lead}
        for lead in (mine, partner)
    }
    await eventually(lambda: {r.webhook_id for r in receiver.at("/forms")} >= by_lead[mine])
    await eventually(lambda: {r.webhook_id for r in receiver.at("/partner")} >= by_lead[partner])
    await asyncio.sleep(0.5)  # anything else would have come by now
    forms = receiver.at("/forms")
    assert {r.webhook_id for r in forms} == by_lead[mine]
    assert sorted(r.event["type"].split(".")[2] for r in forms) == sorted(
        ["LeadRejected", "LeadAssigned", "LeadAccepted", "LeadReturned", "DealClosed", "DealLost"]
    )
    assert {r.webhook_id for r in receiver.at("/partner")} == by_lead[partner]


async def test_an_organisations_subscriptions_never_see_another_organisations_events(
    start_service: StartService, receiver: Receiver
) -> None:
    rt = await start_service()
    a, b = org(), org()
    await subscribe(rt, a, receiver.url("/a"))
    await subscribe(rt, b, receiver.url("/b"))
    envs_a = await publish(rt, verdicts(a, f"lead-{uuid.uuid4().hex[:8]}", "web-form"))
    envs_b = await publish(rt, verdicts(b, f"lead-{uuid.uuid4().hex[:8]}", "web-form"))
    await eventually(lambda: len(receiver.at("/a")) >= 6 and len(receiver.at("/b")) >= 6)
    await asyncio.sleep(0.3)
    assert {r.webhook_id for r in receiver.at("/a")} == {e.id for e in envs_a}
    assert {r.webhook_id for r in receiver.at("/b")} == {e.id for e in envs_b}
    # A token bound to organisation a does not see b's subscription.
    async with http(rt) as client:
        listed = (await client.get("/subscriptions", headers=ops(rt, a))).json()
        assert {s["organisation_id"] for s in listed} == {a}
        b_sub = (await client.get("/subscriptions", headers=ops(rt, b))).json()[0]
        r = await client.get(f"/subscriptions/{b_sub['subscription_id']}", headers=ops(rt, a))
        assert r.status_code == 404
        r = await client.post(
            "/subscriptions",
            json={"organisation_id": b, "url": receiver.url("/x"), "event_types": ["LeadAssigned"]},
            headers=ops(rt, a),
        )
        assert r.status_code == 403


async def test_a_slow_receiver_does_not_hold_up_another_subscription(
    start_service: StartService, receiver: Receiver
) -> None:
    """The slow receiver takes 6 s per answer and has both its slots taken at once; the
    fast one must get everything before the slow one answers even once (had the slow
    subscription held up the sender, the fast one would wait for its answers)."""
    rt = await start_service(request_timeout_seconds=8.0, per_subscription_in_flight=2)
    o = org()
    receiver.scripts["/slow"] = [(204, 6.0, {})] * 20
    await subscribe(rt, o, receiver.url("/slow"))
    await subscribe(rt, o, receiver.url("/fast"))
    envs = await publish(
        rt, [e for _ in range(5) for e in verdicts(o, f"lead-{uuid.uuid4().hex[:8]}", "s")[:2]]
    )
    await eventually(lambda: len(receiver.requests_to("/slow")) >= 1, timeout=20)
    await eventually(lambda: len(receiver.at("/fast")) >= len(envs), timeout=20)
    # No slow answer yet: the first came in at most 6 s after its request arrived.
    assert receiver.at("/slow") == []
    assert len(receiver.requests_to("/slow")) <= 2  # its two slots, both still waiting


async def test_rotation_signs_with_both_secrets_during_the_overlap(
    start_service: StartService, receiver: Receiver
) -> None:
    rt = await start_service()
    o = org()
    sub = await subscribe(rt, o, receiver.url("/rot"))
    async with http(rt) as client:
        r = await client.post(
            f"/subscriptions/{sub['subscription_id']}/rotate-secret",
            json={"overlap_hours": 1},
            headers={**ops(rt), "Idempotency-Key": uuid.uuid4().hex},
        )
    assert r.status_code == 200, r.text
    new = r.json()["secret"]
    assert new.startswith("whsec_") and new != sub["secret"]
    await publish(rt, verdicts(o, f"lead-{uuid.uuid4().hex[:8]}", "s")[:1])
    got = await eventually(lambda: receiver.at("/rot"))
    assert got[0].headers["webhook-signature"].count("v1,") == 2
    Webhook(sub["secret"]).verify(got[0].body, got[0].headers)
    Webhook(new).verify(got[0].body, got[0].headers)


async def test_a_subscription_failing_too_long_is_disabled_and_ops_redeliver(
    start_service: StartService, receiver: Receiver
) -> None:
    """Failing for ``disable_after_hours`` disables it and emits one
    ``WebhookSubscriptionDisabled`` (host only, no path or secret); nothing is lost:
    activating it sends the backlog, and ops can send one delivery or a time range again."""
    rt = await start_service(disable_after_hours=1.0 / 3600)  # one second
    o = org()
    receiver.scripts["/down"] = [(503, 0, {})] * 1000
    url = receiver.url("/down?token=receiver-own-secret")
    sub = await subscribe(rt, o, url)
    sid = sub["subscription_id"]
    envs = await publish(rt, verdicts(o, f"lead-{uuid.uuid4().hex[:8]}", "s")[:3])
    async with TopicReader(rt.settings.kafka, WEBHOOKS.name) as out, http(rt) as client:

        async def state() -> str:
            return str((await client.get(f"/subscriptions/{sid}", headers=ops(rt))).json()["state"])

        await eventually(state, lambda s: s == "disabled", timeout=15)
        await out.wait_for(
            lambda r: bool(r.events("WebhookSubscriptionDisabled", subscription_id=sid))
        )
        doc = (await client.get(f"/subscriptions/{sid}", headers=ops(rt))).json()
        [notice] = out.envelopes("WebhookSubscriptionDisabled")
        event = notice.event
        assert isinstance(event, WebhookSubscriptionDisabled) and notice.subject == sid
        assert (event.organisation_id, event.url_host) == (o, "127.0.0.1")
        stored = datetime.fromisoformat(doc["disabled_at"])
        stored = stored if stored.tzinfo else stored.replace(tzinfo=UTC)
        assert abs(event.disabled_at - stored) < timedelta(milliseconds=1)  # as it was stored
        assert event.failing_since <= event.disabled_at
        assert "HTTP 503" in event.reason and event.reason == doc["disabled_reason"]
        assert "secret" not in notice.event.model_dump_json() and "/down" not in event.reason
        assert await rt.db[OUTBOX].count_documents({}) == 0  # committed with it, then sent
        stats = (await client.get("/stats", headers=ops(rt, o))).json()
        assert [f["subscription_id"] for f in stats["failing"]] == [sid]
        assert stats["subscriptions"][0]["backlog"] == 3
        assert stats["subscriptions"][0]["oldest_undelivered_age_seconds"] > 0
        # The dashboard's health panel reads the same from the service's metrics.
        metrics = (await client.get("/metrics")).text
        row = next(r for r in webhook_subscriptions(metrics) if r["subscription_id"] == sid)
        assert row["failing"] is True and row["state"] == "disabled" and row["backlog"] == 3
        assert service_health(
            "webhooks", "u", ready_status=200, ready_body={}, metrics_text=metrics
        ).webhooks
        receiver.scripts["/down"] = []  # it recovers
        attempts = len(receiver.requests)
        await asyncio.sleep(0.5)
        assert len(receiver.requests) == attempts  # disabled: nothing sent
        r = await client.post(f"/subscriptions/{sid}/activate", headers=ops(rt))
        assert r.status_code == 200 and r.json()["state"] == "active"
        await eventually(
            lambda: [x.webhook_id for x in receiver.at("/down")] == [e.id for e in envs]
        )
        deliveries = (await client.get(f"/subscriptions/{sid}/deliveries", headers=ops(rt))).json()
        one = next(d for d in deliveries if d["event_id"] == envs[1].id)
        r = await client.post(
            f"/subscriptions/{sid}/deliveries/{one['delivery_id']}/redeliver",
            headers={**ops(rt), "Idempotency-Key": uuid.uuid4().hex},
        )
        assert r.status_code == 200, r.text
        await eventually(lambda: len(receiver.at("/down")) == 4)
        # Activated and delivering again: the one disabling said so once.
        assert len(out.events("WebhookSubscriptionDisabled", subscription_id=sid)) == 1
        assert receiver.at("/down")[-1].webhook_id == envs[1].id
        now = datetime.now(UTC)
        r = await client.post(
            f"/subscriptions/{sid}/redeliver",
            json={
                "since": (now - timedelta(hours=1)).isoformat(),
                "until": (now + timedelta(hours=1)).isoformat(),
            },
            headers={**ops(rt), "Idempotency-Key": uuid.uuid4().hex},
        )
        assert r.json()["redelivering"] == 3
        await eventually(lambda: len(receiver.at("/down")) == 7)
        assert [x.webhook_id for x in receiver.at("/down")[4:]] == [e.id for e in envs]

        # The dashboard's table counts the 2xx answers (a redelivery counts again).
        async def delivered() -> Any:
            rows = webhook_subscriptions((await client.get("/metrics")).text)
            return next(r for r in rows if r["subscription_id"] == sid)["delivered"]

        await eventually(delivered, lambda n: n == 7, timeout=5)
