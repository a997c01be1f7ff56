"""The demo's webhook receiver: what a lead source's own system would run to hear the
verdicts on its leads back (D3 for sources that cannot read Kafka).

A small HTTP server on a free loopback port, started by ``kauppa demo`` itself. Each
request's Standard Webhooks signature is checked with the ``standardwebhooks`` reference
library when it is installed (a dev dependency), else with the check below (the same
rule: HMAC-SHA256 of ``id.timestamp.body`` under the base64 key of the ``whsec_``
secret, any of the space-separated ``v1,`` signatures, a timestamp within 5 minutes).
A receiver dedupes on ``webhook-id``: a redelivery counts once.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import socket
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

TOLERANCE_SECONDS = 300


def verify_signature(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The Standard Webhooks check, for when the reference library is not installed."""
    try:
        msg_id, stamp = headers["webhook-id"], headers["webhook-timestamp"]
        if abs(time.time() - int(stamp)) > TOLERANCE_SECONDS:
            return False
        key = base64.b64decode(secret.removeprefix("whsec_"))
    except (KeyError, ValueError):
        return False
    expected = base64.b64encode(
        hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    ).decode()
    return any(
        hmac.compare_digest(sig.removeprefix("v1,"), expected)
        for sig in headers.get("webhook-signature", "").split()
        if sig.startswith("v1,")
    )


def _reference_verifier(secret: str) -> Any | None:
    try:
        from standardwebhooks.webhooks import Webhook
    except ImportError:
        return None
    return Webhook(secret)


@dataclass
class WebhookReceiver:
    """Counts what arrives: distinct deliveries, how many verified, by event type."""

    secret: str = ""
    subscription_id: str = ""
    port: int = 0
    verified_with: str = ""
    ids: set[str] = field(default_factory=set)
    verified: set[str] = field(default_factory=set)
    by_type: Counter[str] = field(default_factory=Counter)
    requests: int = 0
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/kauppa-verdicts"

    def check(self, headers: dict[str, str], body: bytes) -> bool:
        reference = _reference_verifier(self.secret)
        if reference is None:
            return verify_signature(self.secret, headers, body)
        try:
            reference.verify(body, headers)
        except Exception:
            return False
        return True

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        headers = dict(request.headers)
        self.requests += 1
        msg_id = headers.get("webhook-id", "")
        if msg_id and msg_id not in self.ids:  # a redelivery (same id) counts once
            self.ids.add(msg_id)
            with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError, IndexError):
                self.by_type[str(json.loads(body)["type"]).split(".")[2]] += 1
        if not (self.secret and self.check(headers, body)):
            return Response(status_code=401)  # the sender tries again later
        self.verified.add(msg_id)
        return Response(status_code=204)

    async def start(self) -> WebhookReceiver:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.verified_with = (
            "standardwebhooks" if _reference_verifier("whsec_AAAA") is not None else "own HMAC"
        )
        app = Starlette(routes=[Route("/{path:path}", self.handle, methods=["POST"])])
        self._server = uvicorn.Server(
            uvicorn.Config(
                app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
            )
        )
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                await self._task  # raises why it could not start
            await asyncio.sleep(0.02)
        return self

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await asyncio.wait_for(self._task, 10)

    def facts(self) -> dict[str, Any]:
        return {
            "webhook_deliveries": len(self.ids),
            "webhook_deliveries_verified": len(self.verified),
            "webhook_deliveries_by_type": dict(self.by_type.most_common()),
        }


# The verdicts a lead source hears back (D3), as far as the running system offers them.
VERDICTS = (
    "LeadRejected",
    "LeadLinkedAsDuplicate",
    "LeadAssigned",
    "LeadQueued",
    "LeadAccepted",
    "LeadReturned",
    "DealClosed",
    "DealLost",
)


async def subscribe_receiver(
    api: Any, organisation_id: str, system: str, partner: str | None
) -> WebhookReceiver | None:
    """Start a receiver and subscribe it, through the webhooks service's API, to the
    verdicts on one source's leads. None when the running system has no webhooks
    service (an older ``kauppa run``)."""
    if "webhooks" not in api.urls:
        return None
    ops = ("ops-demo", "ops")
    offered = (await api.call("webhooks", "GET", "/event-types", as_=ops)).json()
    names = {t["event_type"] for t in offered}
    receiver = await WebhookReceiver().start()
    filters: dict[str, str] = {"source_system": system}
    if partner:
        filters["partner"] = partner
    r = await api.call(
        "webhooks",
        "POST",
        "/subscriptions",
        as_=ops,
        body={
            "organisation_id": organisation_id,
            "url": receiver.url,
            "event_types": [n for n in VERDICTS if n in names],
            "filters": filters,
            "description": f"kauppa demo: the verdicts on {system}'s leads (D3)",
        },
        ok=(201,),
    )
    created = r.json()
    receiver.secret = created["secret"]  # shown once: the receiver keeps it
    receiver.subscription_id = created["subscription_id"]
    return receiver


async def until_delivered(api: Any, receiver: WebhookReceiver, timeout: float) -> None:
    """Wait (at most ``timeout`` s) until the subscription's backlog is empty."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        stats = (await api.call("webhooks", "GET", "/stats", as_=("ops-demo", "ops"))).json()
        row = next(
            (s for s in stats["subscriptions"] if s["subscription_id"] == receiver.subscription_id),
            None,
        )
        if row is not None and row["backlog"] == 0:
            return
        await asyncio.sleep(0.5)
