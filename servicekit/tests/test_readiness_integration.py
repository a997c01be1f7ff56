"""Readiness reflects the database: stop mongod and /health/ready turns 503."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from kauppa.devkit.embedded.servers import start_mongod
from kauppa.servicekit.http import create_app
from kauppa.servicekit.runtime import ServiceRuntime
from kauppa.servicekit.settings import MongoSettings

pytestmark = pytest.mark.integration


async def test_readiness_goes_false_when_mongod_stops(settings_for, tmp_path: Path):
    mongod = await asyncio.to_thread(start_mongod, tmp_path)
    try:
        settings = settings_for(
            service_name="ready",
            mongo=MongoSettings(
                uri=f"mongodb://127.0.0.1:{mongod.port}/?replicaSet=rs0",
                server_selection_timeout_ms=1000,
            ),
        )
        runtime = ServiceRuntime(settings, consume=False)
        app = create_app(runtime, manage_runtime=False)
        await runtime.start()
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://svc") as http:
                ready = await http.get("/health/ready")
                assert ready.status_code == 200, ready.text
                assert ready.json()["checks"] == {"mongodb": "ok", "kafka": "ok"}

                await asyncio.to_thread(mongod.stop)
                not_ready = await http.get("/health/ready")
                assert not_ready.status_code == 503
                assert not_ready.json()["checks"]["mongodb"].startswith("unavailable")
                assert not_ready.json()["checks"]["kafka"] == "ok"
                live = await http.get("/health/live")
                assert live.status_code == 200
                metrics = await http.get("/metrics")
                assert "kauppa_ready" in metrics.text
        finally:
            await runtime.stop()
    finally:
        mongod.stop()


async def test_asyncapi_document_names_consumed_and_emitted_events(settings_for):
    from kauppa.contracts import LeadRejected

    from .tally_service import handlers

    runtime = ServiceRuntime(settings_for(service_name="docs"), handlers, emits=[LeadRejected])
    doc = runtime.asyncapi()
    text = str(doc)
    assert doc["asyncapi"].startswith("3.")
    assert "kauppa.leads.qualified" in text, "the consumed topic"
    assert "fi.kauppa.LeadQualified.v1" in text, "the consumed event type"
    assert "LeadRejected" in text and "lead_id" in text, "the emitted event with its schema"
    await runtime.client.close()
