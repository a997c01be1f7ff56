"""`kauppa dlq replay` refuses a dead letter naming an erased customer (by email or
business id, per organisation, checked against the privacy topic) unless --force, and
says which; --org keeps to one organisation's letters."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kauppa.cli import main as cli
from kauppa.contracts import CustomerErased, envelope, examples, to_kafka
from kauppa.contracts.topics import PRIVACY, Topic, dead_letter_topic
from kauppa.devkit.embedded import Infrastructure
from kauppa.devkit.testing import TopicReader, publish_raw
from kauppa.servicekit.deadletters import RawRecord, dead_letter_record
from kauppa.servicekit.kafka_admin import create_topics
from rich.console import Console
from typer.testing import CliRunner, Result


async def _kauppa(args: list[str]) -> Result:
    return await asyncio.to_thread(CliRunner().invoke, cli.app, args)


@pytest.mark.integration
async def test_replay_refuses_letters_of_erased_customers_unless_forced(
    infra: Infrastructure, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(cli, "STATE_FILE", tmp_path / "no-state.json")
    monkeypatch.setattr(cli, "console", Console(width=400))
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", infra.kafka_bootstrap_servers)
    monkeypatch.setenv("KAUPPA_PROFILE", infra.profile)
    monkeypatch.setenv("MONGODB_URI", infra.mongodb_uri)
    tag = uuid.uuid4().hex[:8]
    service, org_a, org_b = f"clierase{tag}", f"org-a-{tag}", f"org-b-{tag}"
    origin = Topic(f"kauppa.erasure-test.{tag}", "key", partitions=1)
    bootstrap = infra.kafka_bootstrap_servers
    await create_topics(bootstrap, [origin, dead_letter_topic(service), PRIVACY])

    email = f"maija.{tag}@esimerkki.fi"
    contact = examples.prospect().contact.model_copy(update={"email": email})

    def lead(org: str, **prospect: object) -> object:
        return examples.lead_qualified(organisation_id=org, prospect=examples.prospect(**prospect))

    envs = [
        envelope(lead(org_a, contact=contact), source="t"),  # erased in A (by email)
        envelope(lead(org_b, contact=contact), source="t"),  # the same person in B
        envelope(lead(org_a), source="t"),  # nobody erased
    ]
    letters = []
    for i, env in enumerate(envs):
        _topic, key, value, headers = to_kafka(env)
        raw = RawRecord(origin.name, 0, i, key, value, headers)
        letters.append(dead_letter_record(service, raw, "handler_error", "x"))
    erasure = CustomerErased(
        customer_id=f"cust-{tag}",
        organisation_id=org_a,
        email=email.upper(),
        requested_by="dpo",
        erased_at=datetime.now(UTC),
    )
    await publish_raw(bootstrap, [*letters, to_kafka(envelope(erasure, source="privacy"))])

    listed = await _kauppa(["dlq", "list", service, "--org", org_a])
    assert listed.exit_code == 0, listed.output
    assert "2 dead letter(s)" in listed.output

    async with TopicReader(bootstrap, origin.name) as out:

        def replayed() -> set[str]:
            return {e.id for e in out.envelopes()}

        r = await _kauppa(["dlq", "replay", service, "--org", org_a])
        assert r.exit_code == 0, r.output
        assert "replayed 1 dead letter(s)" in r.output, r.output
        [refused] = re.findall(r"refused (\d+@\d+) \(\S*LeadQualified\S*\).*by email", r.output)
        assert email not in r.output.lower()
        await out.wait_for(lambda o: replayed() == {envs[2].id}, what="A's other letter")

        r = await _kauppa(["dlq", "replay", service, "--org", org_b])
        assert r.exit_code == 0 and "replayed 1 dead letter(s)" in r.output, r.output
        await out.wait_for(lambda o: envs[1].id in replayed(), what="B's letter")

        r = await _kauppa(["dlq", "replay", service, "--offset", refused, "--force"])
        assert r.exit_code == 0 and "replayed 1 dead letter(s)" in r.output, r.output
        await out.wait_for(lambda o: envs[0].id in replayed(), what="the forced letter")
