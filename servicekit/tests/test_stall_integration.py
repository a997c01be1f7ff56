"""A consumer with lag that makes no progress says so: /health/ready turns 503 naming
the stall, the gauges show it, an error is logged once per interval; progress makes it
ready again. Real broker, real mongod; the stall is a handler waiting on an event."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid

import httpx
import pytest
import structlog
from kauppa.contracts import Envelope, LeadQualified, envelope, examples, to_kafka
from kauppa.contracts.topics import Topic
from kauppa.devkit.testing import eventually, publish_raw
from kauppa.servicekit.http import create_app
from kauppa.servicekit.kafka_admin import create_topics
from kauppa.servicekit.pipeline import Handlers
from kauppa.servicekit.runtime import ServiceRuntime
from kauppa.servicekit.settings import ServiceSettings
from kauppa.servicekit.unit_of_work import UnitOfWork
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.integration

STALL_AFTER = 1.5


def gauges(text: str, service: str) -> dict[str, float]:
    return {
        s.name: s.value
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.labels.get("service") == service and s.name.startswith("kauppa_consumer_")
    }


async def test_a_stalled_consumer_is_not_ready_until_it_moves_again(
    infra, settings_for, runtimes
) -> None:
    bootstrap = infra.kafka_bootstrap_servers
    topic = f"kauppa.test.stall-{uuid.uuid4().hex[:8]}"
    await create_topics(bootstrap, [Topic(topic, "lead_id", partitions=1, retention_days=1)])
    release = asyncio.Event()
    handled: list[str] = []
    handlers = Handlers()

    @handlers.on_batch(LeadQualified)
    async def stuck(batch: list[Envelope], uow: UnitOfWork) -> None:
        await release.wait()  # e.g. a call without a timeout to something that hangs
        handled.extend(env.id for env in batch)

    name = "stall"
    rt = ServiceRuntime(
        settings_for(
            ServiceSettings,
            service_name=name,
            consume_topics=[topic],
            stall_after_seconds=STALL_AFTER,
        ),
        handlers,
    )
    runtimes.append(rt)
    app = create_app(rt, [], manage_runtime=False)
    events = [envelope(examples.lead_qualified(), source="stall-test") for _ in range(37)]

    with structlog.testing.capture_logs() as logs, contextlib.ExitStack() as cleanup:
        cleanup.callback(release.set)  # a failed check must not leave the batch hanging
        await rt.start()
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://svc"
        ) as http:
            assert (await http.get("/health/ready")).status_code == 200
            published = time.time()
            await publish_raw(bootstrap, [(topic, *to_kafka(e)[1:]) for e in events])

            async def ready() -> httpx.Response:
                return await http.get("/health/ready")

            stalled = await eventually(ready, lambda r: r.status_code == 503, timeout=30)
            waited = time.time() - published
            reason = stalled.json()["checks"]["consumer"]
            assert reason.startswith("stalled: lag 37, no progress for "), reason
            assert stalled.json()["checks"]["mongodb"] == "ok"
            assert waited >= STALL_AFTER

            metrics = gauges((await http.get("/metrics")).text, name)
            assert metrics["kauppa_consumer_stalled"] == 1
            last = metrics["kauppa_consumer_last_progress_timestamp_seconds"]
            assert last <= time.time() - STALL_AFTER

            await asyncio.sleep(2 * STALL_AFTER)  # stalled on: the error comes again
            alarms = [e for e in logs if e["event"] == "consumer_stalled"]
            assert alarms and alarms[0]["log_level"] == "error"
            assert alarms[0]["reason"].startswith("stalled: lag 37")
            stalled_for = time.time() - published - STALL_AFTER
            assert 2 <= len(alarms) <= stalled_for / STALL_AFTER + 1, len(alarms)

            release.set()
            back = await eventually(ready, lambda r: r.status_code == 200, timeout=30)
            assert back.json()["checks"]["consumer"] == "ok"
            await eventually(lambda: len(handled) >= len(events))
            assert sorted(handled) == sorted(e.id for e in events)
            metrics = gauges((await http.get("/metrics")).text, name)
            assert metrics["kauppa_consumer_stalled"] == 0
            assert metrics["kauppa_consumer_last_progress_timestamp_seconds"] > last


async def test_an_idle_consumer_stays_ready(infra, settings_for, runtimes) -> None:
    """No lag, no batch: however long nothing happens, that is no stall."""
    topic = f"kauppa.test.idle-{uuid.uuid4().hex[:8]}"
    await create_topics(
        infra.kafka_bootstrap_servers, [Topic(topic, "lead_id", partitions=1, retention_days=1)]
    )
    handlers = Handlers()

    @handlers.on_batch(LeadQualified)
    async def noop(batch: list[Envelope], uow: UnitOfWork) -> None:
        return None

    rt = ServiceRuntime(
        settings_for(
            ServiceSettings, service_name="idle", consume_topics=[topic], stall_after_seconds=0.5
        ),
        handlers,
    )
    runtimes.append(rt)
    await rt.start()
    await asyncio.sleep(1.5)
    checks = await rt.readiness()
    assert checks["consumer"] == "ok", checks
