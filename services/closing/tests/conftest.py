"""A closing service on the real broker and mongod, with a manual clock and an HTTP client."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest_asyncio
from kauppa.closing.api import router
from kauppa.closing.bootstrap import build_runtime
from kauppa.closing.domain.identity import deal_id_for
from kauppa.closing.settings import ClosingSettings
from kauppa.contracts import Envelope, LeadAccepted, LeadSource, envelope, examples
from kauppa.devkit.testing.http import asgi_client, bearer
from kauppa.servicekit.clock import ManualClock
from kauppa.servicekit.http import create_app
from kauppa.servicekit.runtime import ServiceRuntime

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def lead_accepted(**overrides: Any) -> LeadAccepted:
    values: dict[str, Any] = {
        "lead_id": f"lead-{uuid.uuid4().hex[:12]}",
        "organisation_id": "org-demo",
        "seller_id": "seller-1",
        "source": LeadSource(system="marketing-automation", booker="booker-1"),
        "prospect": examples.prospect(),
        "product_interest": ["crm"],
        "accepted_at": T0,
    }
    values.update(overrides)
    return LeadAccepted(**values)


def close_body(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "lines": [
            {
                "product_code": "CRM-PRO",
                "description": "CRM Pro, annual licence",
                "quantity": "2",
                "unit_price": {"amount": "1200.00", "currency": "EUR"},
            },
            {
                "product_code": "TRAIN-1D",
                "description": "Training day",
                "quantity": "1",
                "unit_price": {"amount": "900.00", "currency": "EUR"},
                "upsell": True,
            },
        ],
        "delivery_schedule": {
            "milestones": [
                {"on": "2026-03-16", "description": "Licences"},
                {"on": "2026-04-01", "description": "Training"},
            ]
        },
        "price": {"vat_rate": "25.5", "currency": "EUR"},
        "payment_terms": {"description": "14 days net", "net_days": 14},
        "signature": {"method": "e_signature", "envelope_id": "env-123", "signed_by": "Maija"},
        "customer_reference": "PO-4711",
    }
    values.update(overrides)
    return values


class Closing:
    """One closing service under test."""

    def __init__(self, runtime: ServiceRuntime, clock: ManualClock) -> None:
        self.runtime, self.clock = runtime, clock
        settings = runtime.settings
        self.client = asgi_client(create_app(runtime, [router], manage_runtime=False))
        self.seller = bearer(settings, "seller-1", "seller")
        self.ops = bearer(settings, "ops-1", "ops")

    async def accept(self, **overrides: Any) -> tuple[str, Envelope]:
        """Feed a LeadAccepted straight into the pipeline (same inbox/outbox as Kafka)."""
        env = envelope(lead_accepted(**overrides), source="test")
        await self.runtime.pipeline.process_envelopes([env])
        assert isinstance(env.event, LeadAccepted)
        return deal_id_for(env.event.lead_id), env

    async def put_card(
        self, seller_id: str = "seller-1", organisation_id: str = "org-demo"
    ) -> None:
        card = examples.seller_card(seller_id=seller_id).model_dump(mode="json")
        r = await self.client.put(
            f"/sellers/{seller_id}/card",
            params={"organisation_id": organisation_id},
            json=card,
            headers=self.ops,
        )
        assert r.status_code == 200, r.text

    async def post(self, path: str, body: dict[str, Any], key: str | None = None) -> httpx.Response:
        headers = dict(self.seller)
        headers["Idempotency-Key"] = key or uuid.uuid4().hex
        return await self.client.post(path, json=body, headers=headers)


ClosingFactory = Callable[..., Coroutine[Any, Any, Closing]]


@pytest_asyncio.fixture
async def closing(settings_for, runtimes) -> AsyncIterator[ClosingFactory]:
    made: list[Closing] = []

    async def make(*, consume: bool = False, **overrides: Any) -> Closing:
        settings = settings_for(ClosingSettings, service_name="closing", **overrides)
        clock = ManualClock(T0)
        runtime = build_runtime(settings, clock, consume=consume, run_timers=False)
        runtimes.append(runtime)
        await runtime.start()
        svc = Closing(runtime, clock)
        made.append(svc)
        return svc

    yield make
    for svc in made:
        await svc.client.aclose()
