"""The HTTP intake in every CloudEvents HTTP content mode, with requests built by the
official CloudEvents SDK, on a real broker and mongod: binary, structured and batched all
go through the same handlers and inbox, so one lead sent by all three is assigned once."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from cloudevents.v1.conversion import to_binary, to_structured
from cloudevents.v1.http import CloudEvent
from kauppa.contracts import LeadQualified, examples, topics
from kauppa.contracts.cloudevents import BATCH_CONTENT_TYPE
from kauppa.devkit.testing import TopicReader
from kauppa.devkit.testing.http import bearer

from .support import new_org, seed_sellers, seller_doc

pytestmark = pytest.mark.integration

HANDOFF = topics.LEADS_HANDOFF.name
URL = "/intake/lead-qualified"


def cloud_event(lead: LeadQualified, **attributes: Any) -> CloudEvent:
    """The lead as an upstream system would build it with the CloudEvents SDK."""
    attrs = {
        "type": LeadQualified.ce_type(),
        "source": "https://crm.example/upstream",
        "time": datetime.now(UTC).isoformat(),
        **attributes,
    }
    return CloudEvent(attrs, lead.model_dump(mode="json"))


def intake(rt: Any, org: str | None = None) -> dict[str, str]:
    return bearer(rt.settings, "upstream-crm", "intake", organisation_id=org)


async def test_one_lead_sent_in_binary_structured_and_batched_mode_is_assigned_once(
    service, kafka_settings
):
    rt, client = service
    org = new_org()
    await seed_sellers(rt, [seller_doc("s-1", org)])
    lead = examples.lead_qualified(organisation_id=org)
    event = cloud_event(lead)
    binary_headers, binary_body = to_binary(event)
    structured_headers, structured_body = to_structured(event)
    assert "ce-id" in binary_headers and "content-type" not in {
        h.lower() for h in binary_headers
    }, "the SDK's binary mode: attributes as headers, no content type needed"
    async with TopicReader(kafka_settings.bootstrap_servers, HANDOFF) as reader:
        first = await client.post(
            URL, content=binary_body, headers={**binary_headers, **intake(rt)}
        )
        assert first.status_code == 202, first.text
        assert first.json() == {"id": event["id"], "lead_id": lead.lead_id, "duplicate": False}
        await reader.wait_for_events("LeadAssigned", lead_id=lead.lead_id)

        again = await client.post(
            URL, content=structured_body, headers={**structured_headers, **intake(rt)}
        )
        assert again.status_code == 202, again.text
        assert again.json()["duplicate"] is True, "the same event id: taken once"

        batch = b"[" + structured_body + b"]"
        batched = await client.post(
            URL, content=batch, headers={"content-type": BATCH_CONTENT_TYPE, **intake(rt)}
        )
        assert batched.status_code == 207, batched.text
        assert batched.json() == [
            {"status": 202, "id": event["id"], "lead_id": lead.lead_id, "duplicate": True}
        ]
        await asyncio.sleep(0.3)
        assert len(reader.events("LeadAssigned", lead_id=lead.lead_id)) == 1


async def test_a_batch_answers_each_event_on_its_own(service, kafka_settings):
    rt, client = service
    org = new_org()
    await seed_sellers(rt, [seller_doc("s-1", org), seller_doc("s-2", org)])
    good, other = (examples.lead_qualified(organisation_id=org) for _ in range(2))
    foreign = examples.lead_qualified(organisation_id=new_org())
    events = [cloud_event(good), cloud_event(other), cloud_event(foreign)]
    docs = [json.loads(to_structured(e)[1]) for e in events]
    broken = {**docs[1], "id": "broken-1", "data": {**docs[1]["data"], "lead_id": ""}}
    no_data = {k: v for k, v in docs[1].items() if k != "data"} | {"id": "no-data-1"}
    wrong_type = {**docs[1], "id": "wrong-1", "type": "fi.kauppa.DealClosed.v1"}
    batch = [docs[0], broken, no_data, wrong_type, docs[1], docs[0], docs[2]]
    tenant = intake(rt, org)  # a token of this organisation: the foreign lead is not its
    async with TopicReader(kafka_settings.bootstrap_servers, HANDOFF) as reader:
        r = await client.post(
            URL, content=json.dumps(batch), headers={"content-type": BATCH_CONTENT_TYPE, **tenant}
        )
        assert r.status_code == 207, r.text
        results = r.json()
        assert [x["status"] for x in results] == [202, 400, 400, 400, 202, 202, 403]
        assert [x.get("duplicate") for x in results] == [False, None, None, None, False, True, None]
        assert "lead_id" in results[1]["detail"]
        assert "no data" in results[2]["detail"]
        assert results[3]["detail"].startswith("fi.kauppa.DealClosed.v1")
        await reader.wait_for_events("LeadAssigned", lead_id=good.lead_id)
        await reader.wait_for_events("LeadAssigned", lead_id=other.lead_id)
        await asyncio.sleep(0.3)
        assert reader.events("LeadAssigned", lead_id=foreign.lead_id) == []


async def test_binary_mode_from_the_sdks_new_bindings_percent_encoded_headers(service):
    """The SDK's newer bindings percent-encode header values (HTTP binding 3.1.3.2)."""
    from cloudevents.core.bindings.http import to_binary_event
    from cloudevents.core.v1.event import CloudEvent as CoreCloudEvent

    rt, client = service
    org = new_org()
    await seed_sellers(rt, [seller_doc("s-1", org)])
    lead = examples.lead_qualified(organisation_id=org)
    event = CoreCloudEvent(
        {
            "type": LeadQualified.ce_type(),
            "source": 'upstream booking/partner "A"',
            "time": datetime.now(UTC),
            "datacontenttype": "application/json",
        },
        lead.model_dump(mode="json"),
    )
    message = to_binary_event(event)
    assert "%20" in message.headers["ce-source"]
    r = await client.post(URL, content=message.body, headers={**message.headers, **intake(rt)})
    assert r.status_code == 202, r.text
    doc = await rt.db["leads"].find_one({"_id": lead.lead_id})
    assert doc is not None


async def test_unreadable_requests_are_refused_whole(service):
    rt, client = service
    lead = examples.lead_qualified()
    headers, body = to_binary(cloud_event(lead))
    r = await client.post(
        URL, content=body, headers={**headers, "content-type": "text/plain", **intake(rt)}
    )
    assert r.status_code == 400 and "must be JSON" in r.json()["detail"]
    r = await client.post(
        URL, content=b'{"a": 1}', headers={"content-type": BATCH_CONTENT_TYPE, **intake(rt)}
    )
    assert r.status_code == 400 and "JSON array" in r.json()["detail"]
    r = await client.post(
        URL, content=b"[]", headers={"content-type": BATCH_CONTENT_TYPE, **intake(rt)}
    )
    assert r.status_code == 400 and "empty batch" in r.json()["detail"]
    r = await client.post(
        URL,
        content=b"[" + b",".join([b"{}"] * 1001) + b"]",
        headers={"content-type": BATCH_CONTENT_TYPE, **intake(rt)},
    )
    assert r.status_code == 400 and "at most 1000" in r.json()["detail"]
    r = await client.post(URL, json=lead.model_dump(mode="json"), headers=intake(rt))
    assert r.status_code == 400 and "not a CloudEvent" in r.json()["detail"]
    missing_id = {k: v for k, v in headers.items() if k != "ce-id"}
    r = await client.post(URL, content=body, headers={**missing_id, **intake(rt)})
    assert r.status_code == 400 and "id" in r.json()["detail"]


def test_the_openapi_document_declares_every_content_mode():
    from kauppa.handoff.bootstrap import build_app
    from kauppa.handoff.settings import HandoffSettings

    spec = build_app(
        HandoffSettings(jwt_secret="openapi-test-only-secret-0123456789", jwt_issuer="t")
    ).openapi()
    body = spec["paths"][URL]["post"]["requestBody"]
    assert set(body["content"]) == {
        "application/json",
        "application/cloudevents+json",
        "application/cloudevents-batch+json",
    }
    schemas = spec["components"]["schemas"]

    def resolved(node: dict) -> dict:
        while "$ref" in node:
            node = schemas[node["$ref"].rsplit("/", 1)[-1]]
        return node

    event = resolved(body["content"]["application/cloudevents+json"]["schema"])
    assert LeadQualified.ce_type() in str(resolved(event["properties"]["type"]))
    assert "lead_id" in resolved(event["properties"]["data"])["properties"]
    batch = body["content"]["application/cloudevents-batch+json"]["schema"]
    assert batch["type"] == "array" and resolved(batch["items"]["anyOf"][0]) == event
    assert batch["minItems"] == 1
    plain = body["content"]["application/json"]["schema"]["allOf"]
    # Plain JSON is read as a structured event only when it says specversion.
    assert resolved(plain[0]) == event and plain[1] == {"required": ["specversion"]}
    assert "207" in spec["paths"][URL]["post"]["responses"]
