"""Traces across services: one lead's spans in handoff and closing (both runtimes on the
real broker and mongod, in this process) share one trace, parent to child, through the
``traceparent`` the events carry and the HTTP header a seller's tool sends."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kauppa.closing.bootstrap import build_runtime as build_closing
from kauppa.closing.settings import ClosingSettings
from kauppa.contracts import envelope, examples, to_structured, topics
from kauppa.devkit.testing import TopicReader, eventually
from kauppa.devkit.testing.http import asgi_client, bearer
from kauppa.handoff.api import router as handoff_router
from kauppa.handoff.bootstrap import build_runtime as build_handoff
from kauppa.handoff.settings import HandoffSettings
from kauppa.servicekit import tracing
from kauppa.servicekit.http import create_app
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

pytestmark = pytest.mark.integration


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    try:
        yield exporter
    finally:
        tracing.uninstall()


def trace_of(traceparent: str | None) -> int:
    ctx = tracing.span_context_of(traceparent)
    assert ctx is not None, traceparent
    return ctx.trace_id


def span_id_of(traceparent: str | None) -> int:
    ctx = tracing.span_context_of(traceparent)
    assert ctx is not None, traceparent
    return ctx.span_id


def named(found: list[ReadableSpan], name: str, service: str | None = None) -> ReadableSpan:
    matching = [
        s
        for s in found
        if s.name == name and (service is None or s.attributes.get("kauppa.service") == service)
    ]
    assert len(matching) == 1, (name, service, [s.name for s in found])
    return matching[0]


async def test_one_leads_spans_across_handoff_and_closing_share_one_trace(
    spans: InMemorySpanExporter, settings_for: Any, runtimes: list[Any], kafka_settings: Any
) -> None:
    org = f"org-{uuid.uuid4().hex[:10]}"
    handoff = build_handoff(
        settings_for(HandoffSettings, service_name="handoff", business_hours_only=False)
    )
    closing = build_closing(
        settings_for(ClosingSettings, service_name="closing"), consume=True, run_timers=False
    )
    for rt in (handoff, closing):
        runtimes.append(rt)
        await rt.start()
    ops = bearer(handoff.settings, "ops-1", "ops")
    lead = examples.lead_qualified(organisation_id=org)
    upstream = envelope(lead, source="crm")  # the upstream system's trace
    trace_id = trace_of(upstream.traceparent)

    async with (
        asgi_client(create_app(handoff, [handoff_router], manage_runtime=False)) as http,
        TopicReader(kafka_settings.bootstrap_servers, topics.LEADS_HANDOFF.name) as leads,
        TopicReader(kafka_settings.bootstrap_servers, topics.DEALS.name) as deals,
    ):
        r = await http.put(
            "/sellers/s-1",
            json={"organisation_id": org, "name": "Sanna"},
            headers={**ops, "Idempotency-Key": uuid.uuid4().hex},
        )
        assert r.status_code == 201, r.text
        # In through the HTTP intake, the upstream's traceparent in the header too.
        r = await http.post(
            "/intake/lead-qualified",
            json=to_structured(upstream),
            headers={
                **bearer(handoff.settings, "crm", "intake"),
                "traceparent": str(upstream.traceparent),
            },
        )
        assert r.status_code == 202, r.text
        await leads.wait_for_events("LeadAssigned", lead_id=lead.lead_id)
        (assigned,) = [
            e for e in leads.envelopes("LeadAssigned") if e.event.lead_id == lead.lead_id
        ]
        assert trace_of(assigned.traceparent) == trace_id

        # The seller's tool answers over HTTP, continuing the LeadAssigned's trace.
        r = await http.post(
            f"/leads/{lead.lead_id}/verdict",
            json={"verdict": "accept"},
            headers={
                **bearer(handoff.settings, "s-1", "seller"),
                "traceparent": str(assigned.traceparent),
            },
        )
        assert r.status_code == 200, r.text
        await deals.wait_for_events("DealOpened", lead_id=lead.lead_id)

    def ours() -> list[ReadableSpan]:
        return [s for s in spans.get_finished_spans() if s.context.trace_id == trace_id]

    # Handoff takes the DealOpened too (the customer id for erasure): the trace's last span.
    await eventually(lambda: any(s.name == "process DealOpened" for s in ours()), timeout=10)
    found = ours()
    intake = named(found, "POST /intake/lead-qualified")
    taken = named(found, "process LeadQualified", "handoff")
    created = named(found, "create LeadAssigned")
    verdict = named(found, "POST /leads/{lead_id}/verdict")
    accepted = named(found, "create LeadAccepted")
    consumed = named(found, "process LeadAccepted", "closing")
    opened = named(found, "create DealOpened")

    upstream_span = span_id_of(upstream.traceparent)
    assert intake.kind == SpanKind.SERVER and intake.parent.span_id == upstream_span
    assert taken.kind == SpanKind.CONSUMER and taken.parent.span_id == upstream_span
    assert created.kind == SpanKind.PRODUCER and created.parent.span_id == taken.context.span_id
    # The event carries its create span: the next hop's parent.
    assert span_id_of(assigned.traceparent) == created.context.span_id
    assert verdict.parent.span_id == created.context.span_id
    assert accepted.parent.span_id == verdict.context.span_id
    assert consumed.parent.span_id == accepted.context.span_id
    assert opened.parent.span_id == consumed.context.span_id
    assert consumed.attributes["messaging.destination.name"] == topics.LEADS_HANDOFF.name
    # Publishing after commit: a send span linked to the events it sent.
    sends = [s for s in spans.get_finished_spans() if s.name == "send"]
    linked = {link.context.span_id for s in sends for link in s.links}
    assert {created.context.span_id, accepted.context.span_id, opened.context.span_id} <= linked
