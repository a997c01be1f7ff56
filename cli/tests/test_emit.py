"""`kauppa emit`: a valid contract event from a JSON file reaches its topic; an invalid one
is refused before anything is sent, with a clear message and exit code 2."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from kauppa.cli import main as cli
from kauppa.contracts import envelope, examples, to_structured
from kauppa.contracts import topics as T
from kauppa.devkit.embedded import Infrastructure
from kauppa.devkit.testing import TopicReader
from typer.testing import CliRunner, Result


async def _kauppa(args: list[str]) -> Result:
    """The command as a user runs it (it runs its own event loop, so not on the test's)."""
    return await asyncio.to_thread(CliRunner().invoke, cli.app, args)


@pytest.fixture
def broker(infra: Infrastructure, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    # Not the state file of a `kauppa run` that may be running on this machine.
    monkeypatch.setattr(cli, "STATE_FILE", tmp_path / "no-state.json")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", infra.kafka_bootstrap_servers)
    return infra.kafka_bootstrap_servers


@pytest.mark.integration
async def test_emit_sends_a_valid_event_file(broker: str, tmp_path: Path) -> None:
    lead = examples.lead_qualified()
    fields = tmp_path / "lead.json"
    fields.write_text(json.dumps({"type": "LeadQualified", **lead.model_dump(mode="json")}))
    delivery = examples.delivery_completed()
    structured = tmp_path / "delivery.json"
    structured.write_text(json.dumps(to_structured(envelope(delivery, source="erp"))))
    async with TopicReader(broker, T.LEADS_QUALIFIED.name, T.DELIVERIES.name) as reader:
        for path in (fields, structured):
            result = await _kauppa(["emit", str(path)])
            assert result.exit_code == 0, result.output
            assert "sent" in result.output
        got = await reader.wait_for_events("LeadQualified", lead_id=lead.lead_id)
        assert got[0] == lead
        await reader.wait_for_events("DeliveryCompleted", delivery_id=delivery.delivery_id)


@pytest.mark.integration
async def test_emit_refuses_an_invalid_event_with_exit_code_2(broker: str, tmp_path: Path) -> None:
    doc = examples.lead_qualified().model_dump(mode="json")
    del doc["prospect"]  # required
    doc["criteria"]["budget"]["met"] = "perhaps"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    async with TopicReader(broker, T.LEADS_QUALIFIED.name) as reader:
        result = await _kauppa(["emit", "--type", "LeadQualified", str(bad)])
        assert result.exit_code == 2, result.output
        assert "Not a valid event" in result.output
        assert "prospect" in result.output
        untyped = tmp_path / "untyped.json"
        untyped.write_text(json.dumps({"lead_id": "x"}))
        result = await _kauppa(["emit", str(untyped)])
        assert result.exit_code == 2 and "--type" in result.output
        with pytest.raises(AssertionError):
            await reader.wait_for_events("LeadQualified", lead_id=doc["lead_id"], timeout=2)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not JSON"),
        ('{"type": "NoSuchEvent", "x": 1}', "Unknown event type 'NoSuchEvent'"),
    ],
    ids=["not-json", "unknown-type"],
)
def test_emit_refuses_a_file_before_looking_for_a_broker(
    content: str, message: str, tmp_path: Path
) -> None:
    doc = tmp_path / "doc.json"
    doc.write_text(content)
    result = CliRunner().invoke(cli.app, ["emit", str(doc)])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
