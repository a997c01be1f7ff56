"""`kauppa dlq list/replay` with a dead letter too large for its topic: listed as truncated,
replayed with its full bytes from the service's database."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from kauppa.cli import main as cli
from kauppa.contracts.topics import Topic
from kauppa.devkit.embedded import Infrastructure
from kauppa.devkit.testing import TopicReader
from kauppa.servicekit.deadletters import RawRecord
from kauppa.servicekit.kafka_admin import create_topics
from kauppa.servicekit.runtime import ServiceRuntime
from rich.console import Console
from typer.testing import CliRunner, Result

LIMIT = 4096


async def _kauppa(args: list[str]) -> Result:
    """The command as a user runs it (it runs its own event loop, so not on the test's)."""
    return await asyncio.to_thread(CliRunner().invoke, cli.app, args)


@pytest.mark.integration
async def test_replay_sends_a_truncated_letters_full_bytes(
    infra: Infrastructure,
    settings_for,
    kafka_settings,
    runtimes,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setattr(cli, "STATE_FILE", tmp_path / "no-state.json")
    monkeypatch.setattr(cli, "console", Console(width=400))
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", infra.kafka_bootstrap_servers)
    monkeypatch.setenv("KAUPPA_PROFILE", infra.profile)
    monkeypatch.setenv("MONGODB_URI", infra.mongodb_uri)
    name = f"clisize{uuid.uuid4().hex[:6]}"
    kafka = kafka_settings.model_copy(update={"max_message_bytes": LIMIT})
    settings = settings_for(service_name=name, database=f"kauppa_{name}", kafka=kafka)
    rt = ServiceRuntime(settings, consume=False, run_relay=False)
    runtimes.append(rt)
    await rt.start()
    origin = Topic(f"kauppa.size-test.{name}", "key", partitions=1)
    await create_topics(infra.kafka_bootstrap_servers, [origin])
    full = b"\x00" + b"f" * (LIMIT * 3)
    await rt.pipeline.apply([RawRecord(origin.name, 0, 3, b"k", full, [("ce_id", b"x")])])

    listed = await _kauppa(["dlq", "list", name])
    assert listed.exit_code == 0, listed.output
    assert "truncated" in listed.output and "1 dead letter(s)" in listed.output
    async with TopicReader(infra.kafka_bootstrap_servers, origin.name) as out:
        replayed = await _kauppa(["dlq", "replay", name])
        assert replayed.exit_code == 0, replayed.output
        assert "replayed 1 dead letter(s)" in replayed.output
        await out.wait_for(lambda r: len(r.records) >= 1, what="the replayed record")
    assert out.records[0].value == full
    await rt.client.drop_database(f"kauppa_{name}")
