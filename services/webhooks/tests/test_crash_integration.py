"""``kill -9`` of the webhooks service (its own process, as `kauppa run` starts it)
during deliveries loses nothing: after a restart every event arrives, at least once,
with the same webhook-id, in order per key."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest
from kauppa.cli.system import ServiceSpec, spawn_service
from kauppa.devkit.embedded import Infrastructure
from kauppa.devkit.embedded.servers import free_port
from kauppa.devkit.testing import eventually
from kauppa.servicekit.auth import issue_token
from kauppa.servicekit.settings import ServiceSettings
from standardwebhooks.webhooks import Webhook

from .conftest import Receiver, org, verdicts

pytestmark = pytest.mark.integration


def _tail(log: Path) -> str:
    return log.read_text()[-3000:] if log.exists() else ""


async def _ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    async with httpx.AsyncClient() as client:
        for _ in range(300):
            assert proc.poll() is None, _tail(log)
            try:
                if (await client.get(f"{url}/health/ready")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"not ready\n{_tail(log)}")


async def test_kill_9_during_deliveries_loses_nothing(
    infra: Infrastructure, receiver: Receiver, tmp_path: Path
) -> None:
    from kauppa.contracts import envelope
    from kauppa.devkit.testing import publish_envelopes

    tag = uuid.uuid4().hex[:8]
    spec = ServiceSpec("webhooks", free_port(), "kauppa.webhooks")
    env = {
        **infra.env(),
        "KAUPPA_PROFILE": "local",
        "WEBHOOKS_DATABASE": f"t_webhooks_crash_{tag}",
        "WEBHOOKS_CONSUMER_GROUP": f"t-webhooks-crash-{tag}",
        "WEBHOOKS_REQUEST_TIMEOUT_SECONDS": "1",
        "WEBHOOKS_CLAIM_LEASE_SECONDS": "1.5",
        "WEBHOOKS_RETRY_BASE_SECONDS": "0.1",
        "WEBHOOKS_RETRY_MAX_SECONDS": "0.5",
        "WEBHOOKS_POLL_SECONDS": "0.05",
    }
    log = tmp_path / "webhooks.log"
    # Slow answers: the kill lands while requests are in flight.
    receiver.scripts["/crash"] = [(204, 0.15, {})] * 10_000
    proc = spawn_service(spec, env, tmp_path)
    try:
        await _ready(spec.url, proc, log)
        o = org()
        token = issue_token(ServiceSettings(), "ops-1", ["ops"])
        async with httpx.AsyncClient(base_url=spec.url) as client:
            r = await client.post(
                "/subscriptions",
                json={
                    "organisation_id": o,
                    "url": receiver.url("/crash"),
                    "event_types": ["LeadRejected", "LeadAssigned", "LeadAccepted", "LeadReturned"],
                },
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": tag},
            )
        assert r.status_code == 201, r.text
        secret = r.json()["secret"]
        leads = [f"lead-{uuid.uuid4().hex[:8]}" for _ in range(10)]
        envs = [envelope(e, source="tests") for lead in leads for e in verdicts(o, lead, "s")[:4]]
        await publish_envelopes(infra.kafka_bootstrap_servers, envs)
        await eventually(lambda: len(receiver.requests) >= 12, timeout=30)
        # The requests the receiver is still answering when the sender dies.
        in_flight_at_kill = {r.webhook_id for r in receiver.requests} - {
            r.webhook_id for r in receiver.delivered
        }
        os.killpg(proc.pid, signal.SIGKILL)  # kill -9, mid-delivery
        proc.wait(10)
        assert in_flight_at_kill
        proc = spawn_service(spec, env, tmp_path)
        await _ready(spec.url, proc, log)
        await eventually(
            lambda: {r.webhook_id for r in receiver.delivered} >= {e.id for e in envs},
            timeout=40,
        )
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
    got = receiver.at("/crash")
    assert {r.webhook_id for r in got} == {e.id for e in envs}
    # What was in flight at the kill came again after the restart, with the same id.
    for webhook_id in in_flight_at_kill:
        assert sum(r.webhook_id == webhook_id for r in receiver.requests) >= 2
    wh = Webhook(secret)
    for r in got:
        assert wh.verify(r.body, r.headers)["id"] == r.webhook_id
    for lead in leads:
        first_seen: list[str] = []
        for r in got:
            if r.event["subject"] == lead and r.webhook_id not in first_seen:
                first_seen.append(r.webhook_id)
        assert first_seen == [e.id for e in envs if e.subject == lead]
