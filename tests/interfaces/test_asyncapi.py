"""Every service's served ``/asyncapi.json`` under the official AsyncAPI parser
(``@asyncapi/parser`` from npm, run with Node.js; ``tools/asyncapi``), and the documents
against the event catalogue: together they send every event type that a Kauppa service
emits, and each sends exactly what the catalogue says the service emits."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from kauppa.contracts import all_event_classes

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "asyncapi"
SERVICES = {
    "handoff": "HandoffSettings",
    "closing": "ClosingSettings",
    "confirmation": "ConfirmationSettings",
    "followup": "FollowupSettings",
    "webhooks": "WebhooksSettings",
    "dashboard": "DashboardSettings",
}


TEST_SECRET = "asyncapi-test-only-secret-0123456789abcdef"


def node_parser() -> list[str]:
    node = shutil.which("node")
    assert node, "Node.js is needed for the official AsyncAPI parser (see tools/asyncapi)"
    if not (TOOL / "node_modules" / "@asyncapi" / "parser").is_dir():
        # `make setup` installs it; a bare pytest run installs it here (from the lock file).
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=TOOL, check=True)
    return [node, str(TOOL / "validate.mjs")]


async def served_document(service: str) -> dict[str, Any]:
    """The document as the service serves it (its real app; nothing is started: the
    document is built from the code, not from the broker)."""
    bootstrap = importlib.import_module(f"kauppa.{service}.bootstrap")
    settings_cls = getattr(importlib.import_module(f"kauppa.{service}.settings"), SERVICES[service])
    # Default settings are the production profile: a secret and issuer of the test's own.
    app = bootstrap.build_app(settings_cls(jwt_secret=TEST_SECRET, jwt_issuer="kauppa-tests"))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        response = await client.get("/asyncapi.json")
    assert response.status_code == 200, response.text
    doc: dict[str, Any] = response.json()
    return doc


@pytest.fixture(scope="module")
async def documents() -> dict[str, dict[str, Any]]:
    return {service: await served_document(service) for service in SERVICES}


def operations(doc: dict[str, Any], action: str) -> set[str]:
    """The CloudEvents types of the messages of the document's ``action`` operations."""
    messages = doc["components"]["messages"]
    found = set()
    for op in doc["operations"].values():
        if op["action"] != action:
            continue
        for ref in op["messages"]:
            channel, message = ref["$ref"].split("/")[2], ref["$ref"].split("/")[-1]
            target = doc["channels"][channel]["messages"][message]["$ref"].split("/")[-1]
            found.add(messages[target]["headers"]["properties"]["ce_type"]["const"])
    return found


def test_every_document_passes_the_official_asyncapi_parser(documents, tmp_path):
    files = []
    for service, doc in documents.items():
        path = tmp_path / f"{service}.json"
        path.write_text(json.dumps(doc))
        files.append(str(path))
    run = subprocess.run(
        [*node_parser(), *files], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.returncode == 0, run.stdout + run.stderr
    results = json.loads(run.stdout)
    for service in SERVICES:
        result = results[str(tmp_path / f"{service}.json")]
        assert result["parsed"] and result["version"].startswith("3."), result
        problems = [d for d in result["diagnostics"] if d["severity"] in ("error", "warning")]
        assert problems == [], (service, problems)
        assert result["receives"] > 0, service
        # The dashboard only reads; every other service tells the world something.
        assert (result["sends"] > 0) == (service != "dashboard"), (service, result)


def test_the_documents_together_send_every_event_a_kauppa_service_emits(documents):
    sent = set().union(*(operations(doc, "send") for doc in documents.values()))
    ours = {c.ce_type() for c in all_event_classes() if not c.external_producer}
    external = {c.ce_type() for c in all_event_classes() if c.external_producer}
    assert ours - sent == set(), "no service declares it emits these"
    assert sent & external == set(), "marked external_producer, but a service sends it"
    received = set().union(*(operations(doc, "receive") for doc in documents.values()))
    assert external - received == set(), "external events nobody takes"


def test_each_document_sends_what_the_catalogue_says_the_service_emits(documents):
    for service, doc in documents.items():
        catalogue = {
            c.ce_type()
            for c in all_event_classes()
            if service in [p.strip() for p in c.emitted_by.split(",")]
        }
        assert operations(doc, "send") == catalogue, service


def test_messages_carry_their_schema_headers_and_key(documents):
    doc = documents["handoff"]
    message = doc["components"]["messages"]["LeadAssigned.v1"]
    assert message["payload"] == {"$ref": "#/components/schemas/LeadAssigned.v1"}
    assert "seller_id" in doc["components"]["schemas"]["LeadAssigned.v1"]["properties"]
    assert message["headers"]["properties"]["ce_type"]["const"] == "fi.kauppa.LeadAssigned.v1"
    assert message["bindings"]["kafka"]["key"]["type"] == "string"
    assert doc["channels"]["kauppa.leads.handoff"]["address"] == "kauppa.leads.handoff"
