"""Fixtures for the webhooks tests: a real HTTP receiver (starlette on uvicorn, on a free
loopback port, in the test's event loop) and a service on the real broker and mongod."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest_asyncio
import uvicorn
from kauppa.contracts import (
    DealClosed,
    DealLost,
    Envelope,
    Event,
    LeadAccepted,
    LeadAssigned,
    LeadRejected,
    LeadReturned,
    LeadSource,
    envelope,
    examples,
)
from kauppa.contracts.events.leads import ReturnReason
from kauppa.devkit.embedded.servers import free_port
from kauppa.devkit.testing import publish_envelopes
from kauppa.servicekit.runtime import ServiceRuntime
from kauppa.webhooks.bootstrap import build_runtime, build_service_app
from kauppa.webhooks.settings import WebhooksSettings
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

# A behaviour for one request: (status, delay in seconds, extra response headers).
Behaviour = tuple[int, float, dict[str, str]]
OK: Behaviour = (204, 0.0, {})


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class Receiver:
    """Answers each request by its path's script (behaviours used up in turn, then OK).
    ``delivered`` holds the requests answered 2xx, ``requests`` every request."""

    port: int = 0
    scripts: dict[str, list[Behaviour]] = field(default_factory=dict)
    requests: list[Received] = field(default_factory=list)
    delivered: list[Received] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        got = Received(request.url.path, dict(request.headers), body, time.monotonic())
        self.requests.append(got)
        script = self.scripts.get(request.url.path) or []
        status, delay, headers = script.pop(0) if script else OK
        if delay:
            await asyncio.sleep(delay)
        if 200 <= status < 300:
            self.delivered.append(got)
        return Response(status_code=status, headers=headers)

    def at(self, path: str) -> list[Received]:
        return [r for r in self.delivered if r.path == path]

    def requests_to(self, path: str) -> list[Received]:
        return [r for r in self.requests if r.path == path]


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver(port=free_port())
    app = Starlette(routes=[Route("/{path:path}", rec.handle, methods=["POST"])])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=rec.port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield rec
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


StartService = Callable[..., Awaitable[ServiceRuntime]]


@pytest_asyncio.fixture
async def start_service(settings_for: Any, runtimes: list[Any]) -> StartService:
    async def start(**overrides: Any) -> ServiceRuntime:
        values: dict[str, Any] = {
            "service_name": "webhooks",
            "request_timeout_seconds": 1.0,
            "retry_base_seconds": 0.1,
            "retry_max_seconds": 0.4,
            "poll_seconds": 0.05,
        }
        values.update(overrides)
        rt = build_runtime(settings_for(WebhooksSettings, **values))
        runtimes.append(rt)
        await rt.start()
        return rt

    return start


def org() -> str:
    return f"org-{uuid.uuid4().hex[:8]}"


def http(rt: ServiceRuntime) -> Any:
    from kauppa.devkit.testing.http import asgi_client

    return asgi_client(build_service_app(rt, manage_runtime=False))


def ops(rt: ServiceRuntime, organisation_id: str | None = None) -> dict[str, str]:
    from kauppa.devkit.testing.http import bearer

    return bearer(rt.settings, "ops-1", "ops", organisation_id=organisation_id)


async def subscribe(
    rt: ServiceRuntime, organisation_id: str, url: str, **body: Any
) -> dict[str, Any]:
    body.setdefault(
        "event_types",
        ["LeadRejected", "LeadAssigned", "LeadAccepted", "LeadReturned", "DealClosed", "DealLost"],
    )
    async with http(rt) as client:
        r = await client.post(
            "/subscriptions",
            json={"organisation_id": organisation_id, "url": url, **body},
            headers={**ops(rt), "Idempotency-Key": uuid.uuid4().hex},
        )
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


NOW = datetime.now(UTC)


def verdicts(
    organisation_id: str, lead_id: str, system: str, partner: str | None = None
) -> list[Event]:
    """Every verdict kind on one lead: rejected, assigned, accepted, returned, closed and
    lost (the lost one without its source: the service knows it from before)."""
    source = LeadSource(system=system, partner=partner)
    prospect = examples.prospect()
    criteria = examples.criteria()
    return [
        LeadRejected(
            lead_id=lead_id, organisation_id=organisation_id, source=source, rejected_at=NOW
        ),
        LeadAssigned(
            lead_id=lead_id,
            organisation_id=organisation_id,
            seller_id="seller-1",
            source=source,
            prospect=prospect,
            criteria=criteria,
            assigned_at=NOW,
            respond_by=NOW + timedelta(hours=4),
        ),
        LeadAccepted(
            lead_id=lead_id,
            organisation_id=organisation_id,
            seller_id="seller-1",
            source=source,
            prospect=prospect,
            accepted_at=NOW,
        ),
        LeadReturned(
            lead_id=lead_id,
            organisation_id=organisation_id,
            seller_id="seller-1",
            source=source,
            reason_code=ReturnReason.NO_BUDGET,
            returned_at=NOW,
        ),
        examples.deal_closed(lead_id=lead_id, organisation_id=organisation_id, source=source),
        DealLost(
            deal_id=f"deal-{lead_id}",
            lead_id=lead_id,
            organisation_id=organisation_id,
            seller_id="seller-1",
            reason="went with a competitor",
            lost_at=NOW,
        ),
    ]


async def publish(rt: ServiceRuntime, events: list[Event]) -> list[Envelope]:
    envs = [envelope(e, source="tests") for e in events]
    await publish_envelopes(rt.settings.kafka.bootstrap_servers, envs)
    return envs


__all__ = ["DealClosed"]
