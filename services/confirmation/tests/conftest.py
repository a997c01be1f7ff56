"""Fixtures for the confirmation tests: a real SMTP server and a service on real infra."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from kauppa.confirmation.bootstrap import build_runtime
from kauppa.confirmation.settings import ConfirmationSettings
from kauppa.contracts import envelope, examples
from kauppa.contracts.events.common import ContactPerson
from kauppa.contracts.events.deals import DealAmended, DealClosed
from kauppa.devkit.testing import TopicReader, publish_envelopes
from kauppa.devkit.testing.smtp import smtp_server
from kauppa.servicekit.clock import Clock
from kauppa.servicekit.runtime import ServiceRuntime

from .smtp_server import DealSmtp


@pytest.fixture
def smtp() -> Iterator[DealSmtp]:
    with smtp_server(DealSmtp) as handler:
        yield handler


StartService = Callable[..., Awaitable[ServiceRuntime]]


@pytest.fixture
def start_service(settings_for: Any, runtimes: list[Any], smtp: DealSmtp) -> StartService:
    """A running service whose default policy waits for approval, so older deals on the
    shared topic never send; each test gives its own organisations a policy."""

    async def start(
        policies: dict[str, dict[str, Any]], clock: Clock | None = None, **overrides: Any
    ) -> ServiceRuntime:
        values: dict[str, Any] = {
            "service_name": "confirmation",
            "smtp_port": smtp.port,
            "default_policy": "seller_review",
            "policies": policies,
            "retry_base_seconds": 0.1,
            "retry_max_seconds": 1.0,
            "sender_poll_seconds": 0.05,
            **overrides,
        }
        settings = settings_for(ConfirmationSettings, **values)
        runtime = build_runtime(settings, clock)
        runtimes.append(runtime)
        await runtime.start()
        return runtime

    return start


def new_org() -> str:
    return f"org-{uuid.uuid4().hex[:8]}"


def deal_for(org: str, locale: str = "fi-FI", **overrides: Any) -> DealClosed:
    """A deal whose customer has an address of its own, so the SMTP script can target it."""
    tag = uuid.uuid4().hex[:10]
    customer = examples.prospect(
        locale=locale,
        contact=ContactPerson(name="Maija Meikäläinen", email=f"buyer-{tag}@customer.example"),
    )
    return examples.deal_closed(organisation_id=org, customer=customer, **overrides)


async def schedule_confirmations(bootstrap: str, reader: TopicReader, *deals: DealClosed) -> None:
    """Publish the closed deals and wait until each one's confirmation is scheduled."""
    await publish_envelopes(bootstrap, [envelope(deal, source="test") for deal in deals])
    for deal in deals:
        await reader.wait_for_events("ConfirmationScheduled", deal_id=deal.deal_id)


def amendment(deal: DealClosed, version: int, **overrides: Any) -> DealAmended:
    """Version ``version`` of the deal, replacing the one before it, agreed at its close."""
    values: dict[str, Any] = {
        "deal_id": deal.deal_id,
        "organisation_id": deal.organisation_id,
        "customer_id": deal.customer_id,
        "customer": deal.customer,
        "seller": deal.seller,
        "summary": deal.summary,
        "summary_version": version,
        "replaces_version": version - 1,
        "amended_at": deal.closed_at,
        **overrides,
    }
    return DealAmended(**values)
