"""Issue #18: dead letters are listed and replayed per organisation; a letter whose
organisation cannot be read is for platform admins only."""

from __future__ import annotations

import uuid

import pytest
from kauppa.contracts import envelope, examples, to_kafka
from kauppa.contracts.topics import dead_letter_topic
from kauppa.devkit.embedded.servers import free_port
from kauppa.devkit.testing import publish_raw
from kauppa.servicekit.deadletters import RawRecord, dead_letter_record
from kauppa.servicekit.kafka_admin import create_topics

from .test_dashboard_integration import bearer, client_for

pytestmark = pytest.mark.integration


async def test_dead_letters_are_scoped_to_the_organisation(infra, start_dashboard):
    service = f"svc-{uuid.uuid4().hex[:8]}"
    rt = await start_dashboard(service_urls={service: f"http://127.0.0.1:{free_port()}"})
    await create_topics(infra.kafka_bootstrap_servers, [dead_letter_topic(service)])
    records = []
    for offset, org in enumerate(("org-a", "org-b")):
        topic, key, value, headers = to_kafka(
            envelope(examples.lead_qualified(organisation_id=org), source="test")
        )
        records.append(
            dead_letter_record(
                service, RawRecord(topic, 0, offset, key, value, headers), "handler_error", "x"
            )
        )
    records.append(
        dead_letter_record(
            service, RawRecord("kauppa.leads", 0, 9, None, b"\xff not json", []), "undecodable", "?"
        )
    )
    await publish_raw(infra.kafka_bootstrap_servers, records)

    async def listed(headers: dict[str, str]) -> list[str | None]:
        r = await http.get(f"/api/deadletters/{service}", headers=headers)
        assert r.status_code == 200, r.text
        return [d["organisation_id"] for d in r.json()["dead_letters"]]

    async with client_for(rt) as http:
        admin_b = bearer(rt, "admin", org="org-b")
        assert await listed(bearer(rt, "ops", org="org-a")) == ["org-a"]
        assert await listed(admin_b) == ["org-b"]
        assert sorted(await listed(bearer(rt, "admin")), key=str) == [None, "org-a", "org-b"]
        assert sorted(await listed(bearer(rt, "ops")), key=str) == ["org-a", "org-b"]
        everything = (
            await http.get(f"/api/deadletters/{service}", headers=bearer(rt, "admin"))
        ).json()["dead_letters"]
        # B's admin replays: A's letter and the unreadable one are not B's to replay.
        r = await http.post(
            f"/api/deadletters/{service}/replay",
            headers=admin_b,
            json={"ids": [d["id"] for d in everything]},
        )
        assert r.status_code == 200, r.text
        [b_letter] = [d["id"] for d in everything if d["organisation_id"] == "org-b"]
        assert r.json()["replayed"] == [b_letter]
        r = await http.post(f"/api/deadletters/{service}/replay", headers=admin_b, json={})
        assert r.json()["replayed"] == []
