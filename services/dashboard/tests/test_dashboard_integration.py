"""The dashboard on a real broker and mongod: events in through Kafka, numbers out of
the JSON API; dead letters listed and replayed (admin only); services that do not answer
show as down."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from kauppa.contracts import (
    ContactDue,
    ContactKind,
    CustomerContactLogged,
    envelope,
    examples,
    to_kafka,
)
from kauppa.contracts.topics import LEADS_QUALIFIED, dead_letter_topic
from kauppa.dashboard.api import router
from kauppa.devkit.embedded.servers import free_port
from kauppa.devkit.testing import TopicReader, eventually, publish_envelopes, publish_raw
from kauppa.devkit.testing.http import asgi_client
from kauppa.devkit.testing.http import bearer as kit_bearer
from kauppa.servicekit.deadletters import RawRecord, dead_letter_record
from kauppa.servicekit.http import create_app
from kauppa.servicekit.kafka_admin import create_topics
from kauppa.servicekit.runtime import ServiceRuntime

from . import scenario

pytestmark = pytest.mark.integration


def client_for(runtime: ServiceRuntime) -> httpx.AsyncClient:
    return asgi_client(create_app(runtime, [router], manage_runtime=False))


def bearer(runtime: ServiceRuntime, *roles: str, org: str | None = None) -> dict[str, str]:
    return kit_bearer(runtime.settings, "ops-1", *roles, organisation_id=org)


def funnel_of(overview: dict[str, Any]) -> dict[str, int]:
    return {s["stage"]: s["count"] for s in overview["funnel"]["steps"]}


async def test_api_numbers_match_the_events_sent_through_kafka(infra, start_dashboard):
    """D2-D4, D5, D11, D13-D15: every section's numbers for a known set of events."""
    rt = await start_dashboard()
    sc = scenario.build()
    await publish_envelopes(infra.kafka_bootstrap_servers, sc.envelopes)
    async with client_for(rt) as http:
        headers = bearer(rt, "ops")

        async def overview() -> dict[str, Any]:
            r = await http.get(f"/api/overview?period=7d&org={sc.org}", headers=headers)
            assert r.status_code == 200, r.text
            return r.json()

        o = await eventually(
            overview,
            lambda o: (
                funnel_of(o) == scenario.FUNNEL
                and o["contacts"]["overdue"] == 1
                and o["confirmations"]["failures"] == 1
                and o["webhook_alerts"]["disabled"] == 1
            ),
        )
    assert funnel_of(o) == scenario.FUNNEL

    quality = {row["name"]: row for row in o["quality"]["source"]}
    assert set(quality) == set(scenario.QUALITY_SOURCE)
    for name, expected in scenario.QUALITY_SOURCE.items():
        assert {k: quality[name][k] for k in expected} == expected, name
    assert quality["alpha-web"]["return_reasons"] == {"not_interested": 1}
    assert {r["name"]: r["accepted"] for r in o["quality"]["partner"]} == {
        "callco": 1,
        "(none)": 1,
    }
    assert {r["name"] for r in o["quality"]["booker"]} == {"booker-anna", "booker-ben"}
    assert {r["name"] for r in o["quality"]["list"]} == {"spring", "fairs"}

    sla = o["handoff_sla"]
    assert {k: sla[k] for k in scenario.SLA} == scenario.SLA
    assert [q["lead_id"] for q in sla["queue"]] == [sc.ids["L4"]]
    assert sla["queue"][0]["reason"] == "all_at_capacity"
    assert sla["queue_reasons"] == {"all_at_capacity": 1}
    assert quality["beta-list"]["queue_reasons"] == {"all_at_capacity": 1}

    stale = o["stale_deals"]
    assert stale["count"] == scenario.STALE_DEALS
    assert stale["deals"][0]["deal_id"] == sc.ids["D2"]
    assert stale["deals"][0]["days_without_contact"] == 20

    conf = o["confirmations"]
    assert conf["latency"]["count"] == 1
    assert conf["latency"]["p50_seconds"] == scenario.CONFIRMATION_LATENCY_SECONDS
    assert conf["failures"] == scenario.CONFIRMATION_FAILURES
    assert conf["failed_not_sent"] == 1
    assert conf["recent_failures"][0]["deal_id"] == sc.ids["D3"]

    sellers = {s["seller_id"]: s for s in o["contacts"]["sellers"]}
    s1 = sellers[sc.ids["s1"]]
    assert {k: s1[k] for k in scenario.CONTACTS_S1} == scenario.CONTACTS_S1

    missing = o["without_next_contact"]
    assert missing["count"] == scenario.WITHOUT_NEXT_CONTACT
    assert [c["customer_id"] for c in missing["sample"]] == [sc.ids["C2"]]

    # Issue 19: a disabled webhook subscription is an alert (WebhookSubscriptionDisabled).
    [alert] = o["webhook_alerts"]["recent"]
    assert alert["subscription_id"] == sc.ids["W1"] and alert["organisation_id"] == sc.org
    assert alert["url_host"] == "hooks.alpha.example" and "HTTP 503" in alert["reason"]


async def test_d15_a_contact_logged_before_its_late_contact_due_stays_done(infra, start_dashboard):
    """The contact's state only moves forward in the read model: a ContactDue that
    arrives after the seller logged the contact (another topic) does not reopen it. The
    contact is neither counted as open for the seller nor hides the customer's missing
    next contact."""
    rt = await start_dashboard()
    now = datetime.now(UTC)
    tag = uuid.uuid4().hex[:8]
    org, customer, seller, contact = (f"{k}-{tag}" for k in ("org-late", "C", "s", "K"))
    logged = CustomerContactLogged(
        customer_id=customer,
        organisation_id=org,
        seller_id=seller,
        contact_id=contact,
        kind=ContactKind.SCHEDULED,
        contacted_at=now - timedelta(days=2),
    )
    late_due = ContactDue(
        contact_id=contact,
        customer_id=customer,
        organisation_id=org,
        seller_id=seller,
        kind=ContactKind.SCHEDULED,
        due_at=now - timedelta(days=3),
        fired_at=now - timedelta(days=3),
        lateness_seconds=0,
    )
    async with client_for(rt) as http:
        headers = bearer(rt, "ops")

        async def overview() -> dict[str, Any]:
            r = await http.get(f"/api/overview?period=7d&org={org}", headers=headers)
            assert r.status_code == 200, r.text
            return r.json()

        # The log first (it alone creates the customer), then the ContactDue.
        await publish_envelopes(infra.kafka_bootstrap_servers, [envelope(logged, source="test")])
        await eventually(overview, lambda o: o["without_next_contact"]["customers"] == 1)
        await publish_envelopes(infra.kafka_bootstrap_servers, [envelope(late_due, source="test")])

        def due_applied(o: dict[str, Any]) -> bool:
            # The ContactDue's customer write (the seller) commits with its contact write.
            sample = o["without_next_contact"]["sample"]
            return o["contacts"]["sellers"] != [] or any(c["seller_id"] == seller for c in sample)

        o = await eventually(overview, due_applied)
    contacts = o["contacts"]
    assert contacts["sellers"] == [], "a done contact must not be reopened by a late ContactDue"
    assert (contacts["upcoming"], contacts["due"], contacts["overdue"]) == (0, 0, 0)
    missing = o["without_next_contact"]
    assert missing["count"] == 1
    assert missing["sample"] == [{"customer_id": customer, "seller_id": seller}]


async def test_periods_and_organisation_scoping(infra, start_dashboard):
    """'today' leaves out last week; a tenant-bound token sees only its own numbers."""
    rt = await start_dashboard()
    org = f"org-scope-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    old = examples.lead_qualified(organisation_id=org, qualified_at=now - timedelta(days=3))
    new = examples.lead_qualified(organisation_id=org, qualified_at=now)
    await publish_envelopes(
        infra.kafka_bootstrap_servers, [envelope(e, source="test") for e in (old, new)]
    )
    async with client_for(rt) as http:
        tenant = bearer(rt, "ops", org=org)

        async def qualified(period: str) -> int:
            r = await http.get(f"/api/overview?period={period}", headers=tenant)
            assert r.status_code == 200, r.text
            return funnel_of(r.json())["qualified"]

        assert await eventually(lambda: qualified("7d"), lambda n: n == 2) == 2
        assert await qualified("today") == 1
        other = await http.get("/api/overview?org=someone-else", headers=tenant)
        assert other.status_code == 403
        no_token = await http.get("/api/overview")
        assert no_token.status_code == 401
        seller = await http.get("/api/overview", headers=bearer(rt, "seller"))
        assert seller.status_code == 403


async def test_dead_letters_listed_for_ops_and_replayed_by_admin_only(
    infra, start_dashboard, kafka_settings
):
    """A lead that service X dead-lettered is listed; ops cannot replay, admin can; the
    replayed lead flows again (the dashboard itself then counts it); a second replay
    sends nothing."""
    service = f"svc-{uuid.uuid4().hex[:8]}"
    rt = await start_dashboard(service_urls={service: f"http://127.0.0.1:{free_port()}"})
    await create_topics(infra.kafka_bootstrap_servers, [dead_letter_topic(service)])
    lead = examples.lead_qualified(organisation_id=f"org-dlq-{uuid.uuid4().hex[:8]}")
    topic, key, value, headers = to_kafka(envelope(lead, source="test"))
    dead = dead_letter_record(
        service, RawRecord(topic, 0, 42, key, value, headers), "handler_error", "boom"
    )
    await publish_raw(infra.kafka_bootstrap_servers, [dead])

    async with client_for(rt) as http:
        ops, admin = bearer(rt, "ops"), bearer(rt, "admin")
        listed = (await http.get(f"/api/deadletters/{service}", headers=ops)).json()
        letters = listed["dead_letters"]
        assert len(letters) == 1
        assert letters[0]["reason_kind"] == "handler_error"
        assert letters[0]["origin"] == f"{LEADS_QUALIFIED.name}/0@42"
        assert letters[0]["replayed_at"] is None

        refused = await http.post(f"/api/deadletters/{service}/replay", headers=ops, json={})
        assert refused.status_code == 403

        done = await http.post(
            f"/api/deadletters/{service}/replay",
            headers={**admin, "Idempotency-Key": "replay-1"},
            json={"ids": [letters[0]["id"]]},
        )
        assert done.status_code == 200, done.text
        assert done.json()["replayed"] == [letters[0]["id"]]

        async def qualified() -> int:
            r = await http.get(f"/api/overview?period=all&org={lead.organisation_id}", headers=ops)
            return funnel_of(r.json())["qualified"]

        assert await eventually(qualified, lambda n: n == 1) == 1
        again = await http.post(f"/api/deadletters/{service}/replay", headers=admin, json={})
        assert again.json()["replayed"] == []
        relisted = (await http.get(f"/api/deadletters/{service}", headers=ops)).json()
        assert relisted["dead_letters"][0]["replayed_by"] == "ops-1"

        unknown = await http.get("/api/deadletters/not-a-service", headers=ops)
        assert unknown.status_code == 404


@pytest.mark.parametrize("keys", [("click-1", "click-2"), ("click", "click")])
async def test_concurrent_replays_send_a_dead_letter_once(infra, start_dashboard, keys):
    """Two admins click replay at the same moment: one of them claims the dead letter,
    the other replays nothing (or, a client retrying under the same Idempotency-Key, gets
    the first answer), and the origin topic gets the record once."""
    service = f"svc-{uuid.uuid4().hex[:8]}"
    rt = await start_dashboard(service_urls={service: f"http://127.0.0.1:{free_port()}"})
    dlq = dead_letter_topic(service)
    await create_topics(infra.kafka_bootstrap_servers, [dlq])
    lead = examples.lead_qualified(organisation_id=f"org-dlq-{uuid.uuid4().hex[:8]}")
    topic, key, value, headers = to_kafka(envelope(lead, source="test"))
    dead = dead_letter_record(
        service, RawRecord(topic, 0, 7, key, value, headers), "handler_error", "boom"
    )
    await publish_raw(infra.kafka_bootstrap_servers, [dead])
    origin = await TopicReader(infra.kafka_bootstrap_servers, topic).start()
    try:
        async with client_for(rt) as http:
            listed = await http.get(f"/api/deadletters/{service}", headers=bearer(rt, "ops"))
            [letter] = listed.json()["dead_letters"]
            replayed_from = f"{dlq.name}/{letter['partition']}@{letter['offset']}".encode()

            async def click(n: int) -> list[str]:
                r = await http.post(
                    f"/api/deadletters/{service}/replay",
                    headers={**bearer(rt, "admin"), "Idempotency-Key": keys[n]},
                    json={},
                )
                assert r.status_code == 200, r.text
                replayed: list[str] = r.json()["replayed"]
                return replayed

            answers = await asyncio.gather(click(0), click(1))

        if keys[0] == keys[1]:
            assert answers == [[letter["id"]], [letter["id"]]]
        else:
            assert sorted(answers) == [[], [letter["id"]]]

        def copies(reader: TopicReader) -> int:
            return sum(1 for r in reader.records if ("replayed_from", replayed_from) in r.headers)

        await origin.wait_for(lambda r: copies(r) >= 1, what="the replayed record")
        await asyncio.sleep(1.0)  # both answers are in: anything sent is acked by now
        assert copies(origin) == 1
    finally:
        await origin.stop()


async def test_health_shows_unreachable_service_as_down_and_itself_ready(start_dashboard):
    rt = await start_dashboard(service_urls={"handoff": f"http://127.0.0.1:{free_port()}"})
    async with client_for(rt) as http:
        r = await http.get("/api/health", headers=bearer(rt, "ops"))
    assert r.status_code == 200
    services = {s["service"]: s for s in r.json()["services"]}
    assert services["handoff"]["status"] == "down"
    assert services["handoff"]["error"]
    me = services["dashboard"]
    assert me["status"] == "ready"
    assert me["consumer_lag"] is not None and me["dead_letters"] is not None


async def test_web_page_and_assets_are_served_without_a_token(start_dashboard):
    rt = await start_dashboard()
    async with client_for(rt) as http:
        page = await http.get("/")
        js = await http.get("/static/app.js")
        missing = await http.get("/static/../settings.py")
    assert page.status_code == 200 and 'data-poll-ms="2000"' in page.text
    assert "http://" not in page.text.replace("http://www.w3.org", "")  # nothing external
    assert js.status_code == 200 and "text/javascript" in js.headers["content-type"]
    assert missing.status_code == 404
