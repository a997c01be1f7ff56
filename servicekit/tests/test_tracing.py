"""The kit's tracing (``servicekit.tracing``): off by default at no cost per event; when
on, spans continue the W3C ``traceparent`` of events and HTTP requests."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from kauppa.contracts import envelope, examples
from kauppa.contracts.cloudevents import new_traceparent
from kauppa.servicekit import tracing
from kauppa.servicekit.settings import TracingSettings
from kauppa.servicekit.unit_of_work import emission
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode


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


def ids(traceparent: str | None) -> tuple[int, int]:
    ctx = tracing.span_context_of(traceparent)
    assert ctx is not None
    return ctx.trace_id, ctx.span_id


def test_off_by_default_hooks_make_nothing_and_events_keep_the_kits_traceparent() -> None:
    assert not tracing.ON and not tracing.configure("t", TracingSettings())
    cause = envelope(examples.lead_qualified(), source="up")
    assert tracing.consuming([cause], "t") is None
    assert tracing.traceparent_for(cause, None) is None
    out = emission(
        examples.lead_queued(), source="handoff", time=cause.time, cause_id=cause.id, n=0,
        cause=cause,
    )  # fmt: skip
    assert ids(out.envelope.traceparent)[0] == ids(cause.traceparent)[0]
    assert ("traceparent", str(out.envelope.traceparent).encode()) in out.record.headers


def test_traceparent_parsing_and_the_otlp_url() -> None:
    tp = new_traceparent()
    ctx = tracing.span_context_of(tp)
    assert ctx is not None and ctx.is_remote and tracing.traceparent_of(ctx) == tp
    for bad in (None, "", "nope", "00-xyz-abc-01", f"00-{'0' * 32}-{'1' * 16}-01"):
        assert tracing.span_context_of(bad) is None
    assert tracing.traces_url("http://c:4318/") == "http://c:4318/v1/traces"
    assert tracing.traces_url("http://c:4318/v1/traces") == "http://c:4318/v1/traces"


def test_settings_take_kauppa_or_the_standard_otel_variable(monkeypatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4318")
    assert TracingSettings().otlp_endpoint == "http://otel:4318"
    monkeypatch.setenv("KAUPPA_OTLP_ENDPOINT", "http://kauppa:4318")
    monkeypatch.setenv("KAUPPA_TRACE_SAMPLE_RATIO", "0.25")
    s = TracingSettings()
    assert s.otlp_endpoint == "http://kauppa:4318" and s.sample_ratio == 0.25


def test_an_endpoint_without_the_otlp_extra_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The workspace installs the extra; a None entry makes its import fail as if not.
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.trace_exporter", None)
    with pytest.raises(RuntimeError, match=r"kauppa-servicekit\[otlp\]"):
        tracing.configure("t", TracingSettings(otlp_endpoint="http://c:4318"))
    assert not tracing.ON


def test_consumed_event_and_what_it_causes_are_parent_and_child(
    spans: InMemorySpanExporter,
) -> None:
    cause = envelope(examples.lead_qualified(), source="up")
    with tracing.consumed([cause], "handoff"):
        out = emission(
            examples.lead_queued(), source="handoff", time=cause.time, cause_id=cause.id, n=0,
            cause=cause,
        )  # fmt: skip
    with tracing.publishing([out.envelope], "handoff"):
        pass
    by_name = {s.name: s for s in spans.get_finished_spans()}
    process, create, send = (
        by_name["process LeadQualified"],
        by_name["create LeadQueued"],
        by_name["send"],
    )
    trace_id, upstream = ids(cause.traceparent)
    assert process.kind == SpanKind.CONSUMER and process.parent.span_id == upstream
    assert process.context.trace_id == trace_id
    assert create.kind == SpanKind.PRODUCER and create.parent.span_id == process.context.span_id
    # The event carries the create span: what consumes it next is its child.
    assert ids(out.envelope.traceparent) == (trace_id, create.context.span_id)
    assert ("traceparent", str(out.envelope.traceparent).encode()) in out.record.headers
    assert [link.context.span_id for link in send.links] == [create.context.span_id]
    assert process.attributes["messaging.message.id"] == cause.id
    assert not tracing._consuming  # nothing held once the batch is done


def test_a_failed_batch_marks_its_spans(spans: InMemorySpanExporter) -> None:
    env = envelope(examples.lead_qualified(), source="up")
    with pytest.raises(ValueError), tracing.consumed([env], "handoff"):
        raise ValueError("boom")
    (span,) = spans.get_finished_spans()
    assert span.status.status_code == StatusCode.ERROR


async def test_http_requests_continue_the_callers_trace(spans: InMemorySpanExporter) -> None:
    app = FastAPI()
    app.add_middleware(tracing.HttpTracing, service="svc")

    @app.get("/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        if thing_id == "broken":
            raise HTTPException(503, "down")
        # An event emitted while handling the request continues its trace.
        out = emission(
            examples.lead_queued(), source="svc", time=examples.lead_queued().queued_at,
            cause_id=None, n=0, cause=None,
        )  # fmt: skip
        return {"traceparent": str(out.envelope.traceparent)}

    caller = new_traceparent()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.get("/things/a", headers={"traceparent": caller})
        emitted = r.json()["traceparent"]
        assert (await client.get("/things/broken")).status_code == 503
    finished = spans.get_finished_spans()
    (create,) = [s for s in finished if s.name == "create LeadQueued"]
    server, failed = [s for s in finished if s.kind == SpanKind.SERVER]
    assert server.kind == SpanKind.SERVER and server.parent.span_id == ids(caller)[1]
    assert server.context.trace_id == ids(caller)[0]
    assert server.attributes["http.route"] == "/things/{thing_id}"
    assert server.attributes["http.response.status_code"] == 200
    assert create.parent.span_id == server.context.span_id
    assert ids(emitted) == (server.context.trace_id, create.context.span_id)
    assert failed.parent is None and failed.status.status_code == StatusCode.ERROR


def test_configured_endpoint_exports_spans_over_otlp_http() -> None:
    """With the ``otlp`` extra (installed in the workspace): spans reach a collector at
    the configured base URL's ``/v1/traces`` (a stub collector here)."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    received: list[tuple[str, bytes]] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, body))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_port}"
        assert tracing.configure("handoff", TracingSettings(otlp_endpoint=endpoint))
        env = envelope(examples.lead_qualified(), source="up")
        with tracing.consumed([env], "handoff"):
            pass
        tracing.uninstall()  # shuts the provider down: the batch goes out now
    finally:
        server.shutdown()
    (path, body) = received[0]
    assert path == "/v1/traces" and b"process LeadQualified" in body and b"handoff" in body
