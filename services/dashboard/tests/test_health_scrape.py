"""The health scrape against canned HTTP answers (httpx's mock transport, no network)."""

from __future__ import annotations

import httpx
from kauppa.dashboard.health import scrape


def answering(ready: httpx.Response, metrics: httpx.Response) -> httpx.AsyncClient:
    def handle(request: httpx.Request) -> httpx.Response:
        return ready if request.url.path == "/health/ready" else metrics

    return httpx.AsyncClient(transport=httpx.MockTransport(handle))


async def test_a_list_as_ready_body_with_bad_metrics_is_an_answer_not_a_crash():
    ready = httpx.Response(200, json=["not", "an", "object"])
    metrics = httpx.Response(200, text="<html>oops</html>")
    async with answering(ready, metrics) as client:
        h = await scrape(client, "odd", "http://odd:1/")
    assert h.status == "ready" and h.checks == {}
    assert h.consumer_lag is None and h.error is not None and h.error.startswith("bad metrics")


async def test_a_non_json_ready_body_and_a_failing_metrics_endpoint():
    ready = httpx.Response(503, text="down for maintenance")
    metrics = httpx.Response(500, text="boom")
    async with answering(ready, metrics) as client:
        h = await scrape(client, "odd", "http://odd:1")
    assert h.status == "not_ready" and h.checks == {}
    assert h.error == "/metrics answered 500"
