"""Every metric the Grafana dashboards query is exported by running services.

prometheus_client lists HELP/TYPE lines for a labelled metric before it has any sample,
so "the name appears in /metrics" proves little. Two checks, honestly separated:

1. The kit's metrics (every service exports them): a service built on the kit is driven
   through real work on the real broker and mongod (events in and out, a redelivery, a
   dead letter, a timer firing, a readiness probe) and every kit metric a panel queries
   must then have a *sample* under the exact name queried (``_total``, ``_bucket``,
   ``_sum``, ``_count`` included), with the labels the panel filters on.
2. Per service: each real service (its own ``build_runtime``) is started and scraped; the
   metric families its panels query (``service="..."`` or, unfiltered, every service)
   must be declared with the right type. Service-specific metrics (SMTP sends, the
   follow-up audit) get samples only after that work happens, which this test does not
   stage; for them, declaration by the running service is what is checked.
"""

from __future__ import annotations

import importlib
import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from deploy_support import DEPLOY, service_names, settings_class
from kauppa.contracts import Envelope, LeadQualified, LeadRejected, envelope, examples, to_kafka
from kauppa.contracts.topics import Topic
from kauppa.devkit.testing import eventually, publish_raw
from kauppa.servicekit.clock import ManualClock
from kauppa.servicekit.http import create_app
from kauppa.servicekit.kafka_admin import create_topics
from kauppa.servicekit.metrics import ServiceMetrics
from kauppa.servicekit.pipeline import Handlers
from kauppa.servicekit.runtime import ServiceRuntime
from kauppa.servicekit.settings import ServiceSettings
from kauppa.servicekit.timers import DueTimer
from kauppa.servicekit.unit_of_work import UnitOfWork
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.integration

SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count"),
    "summary": ("", "_sum", "_count"),
}
_SELECTOR = re.compile(r"\b(kauppa_[a-z0-9_]+)\s*(\{[^}]*\})?")
_MATCHER = re.compile(r'(\w+)\s*(=~|!=|!~|=)\s*"([^"]*)"')


def dashboard_queries() -> dict[str, list[dict[str, str]]]:
    """metric name as queried -> the label matchers of each place it is queried."""
    out: dict[str, list[dict[str, str]]] = {}
    for path in sorted((DEPLOY / "compose/grafana/dashboards").glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                for name, braces in _SELECTOR.findall(target["expr"]):
                    matchers = {k: v for k, _op, v in _MATCHER.findall(braces or "")}
                    out.setdefault(name, []).append(matchers)
    return out


def names_from_families(families) -> tuple[set[str], set[str], dict[str, set[str]]]:
    """(declared sample names, sample names with samples, label names seen per sample)."""
    declared: set[str] = set()
    sampled: set[str] = set()
    labels: dict[str, set[str]] = {}
    for fam in families:
        declared |= {fam.name + s for s in SUFFIXES.get(fam.type, ("",))}
        for sample in fam.samples:
            sampled.add(sample.name)
            labels.setdefault(sample.name, set()).update(sample.labels)
    return declared, sampled, labels


def kit_sample_names() -> set[str]:
    declared, _, _ = names_from_families(ServiceMetrics("x").registry.collect())
    return declared


QUERIES = dashboard_queries()
KIT = kit_sample_names()


def test_the_dashboards_query_the_panels_the_issue_asks_for() -> None:
    """Throughput, lag, dead letters, outbox backlog, timer lateness, handoff SLA and
    confirmation latency each have a metric behind them."""
    for needed in (
        "kauppa_events_in_total",
        "kauppa_events_out_total",
        "kauppa_consumer_lag",
        "kauppa_dead_letters_total",
        "kauppa_outbox_backlog",
        "kauppa_timer_lateness_seconds_bucket",
        "kauppa_confirmation_send_round_seconds_bucket",
    ):
        assert needed in QUERIES, needed
    assert any(
        m.get("service") == "handoff" and "sla" in m.get("kind", "")
        for m in QUERIES["kauppa_timers_fired_total"]
    )


# ---------------------------------------------------------------- 1. the kit, driven

handlers = Handlers()


@handlers.on_batch(LeadQualified, emits=[LeadRejected])
async def note_leads(batch: list[Envelope], uow: UnitOfWork) -> None:
    for env in batch:
        lead = env.event
        assert isinstance(lead, LeadQualified)
        await uow.db["leads"].insert_one({"_id": lead.lead_id}, session=uow.session)
        uow.emit(
            LeadRejected(
                lead_id=lead.lead_id,
                organisation_id=lead.organisation_id,
                source=lead.source,
                problems=["deploy metrics check"],
                rejected_at=uow.now,
            ),
            cause=env,
        )
        uow.schedule(f"check:{lead.lead_id}", uow.now + timedelta(hours=1), "deploy_check", {})


async def fire_check(timers: list[DueTimer], uow: UnitOfWork) -> None:
    for t in timers:
        await uow.db["fired"].insert_one({"_id": t.key}, session=uow.session)


async def private_topic(bootstrap: str) -> str:
    """A topic of this test's own: the runtimes below consume nothing shared."""
    name = f"kauppa.test.deploy-{uuid.uuid4().hex[:8]}"
    await create_topics(bootstrap, [Topic(name, "lead_id", partitions=1, retention_days=1)])
    return name


async def scrape(rt: ServiceRuntime) -> tuple[set[str], set[str], dict[str, set[str]]]:
    app = create_app(rt, [], manage_runtime=False)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://svc"
    ) as http:
        ready = await http.get("/health/ready")
        assert ready.status_code == 200, ready.text
        resp = await http.get("/metrics")
    assert resp.status_code == 200
    return names_from_families(text_string_to_metric_families(resp.text))


async def test_every_kit_metric_the_dashboards_query_has_samples(
    infra, settings_for, runtimes
) -> None:
    bootstrap = infra.kafka_bootstrap_servers
    topic = await private_topic(bootstrap)
    clock = ManualClock(datetime.now(UTC))
    name = "deploymetrics"
    rt = ServiceRuntime(
        settings_for(ServiceSettings, service_name=name, consume_topics=[topic]),
        handlers,
        timer_handlers={"deploy_check": fire_check},
        clock=clock,
    )
    runtimes.append(rt)
    await rt.start()

    first, second = (envelope(examples.lead_qualified(), source="deploy-test") for _ in range(2))
    records = [(topic, *to_kafka(e)[1:]) for e in (first, first, second)]  # one redelivery
    records.append((topic, b"lead-x", b"{not json", [("ce_type", b"LeadQualified")]))
    await publish_raw(bootstrap, records)

    reg = rt.metrics.registry

    def value(metric: str, **labels: str) -> float:
        return reg.get_sample_value(metric, {"service": name, **labels}) or 0.0

    await eventually(
        lambda: (
            value("kauppa_events_in_total", type="LeadQualified") >= 2
            and value("kauppa_events_duplicate_total", type="LeadQualified") >= 1
            and sum(
                s.value
                for m in reg.collect()
                if m.name == "kauppa_dead_letters"
                for s in m.samples
                if s.name.endswith("_total")
            )
            >= 1
            and value("kauppa_events_out_total", type="LeadRejected") >= 2
        )
    )
    clock.advance(timedelta(hours=2))
    assert await rt.timers.fire_due() == 2

    _declared, sampled, labels = await scrape(rt)
    for metric, uses in QUERIES.items():
        if metric not in KIT:
            continue
        assert metric in sampled, f"{metric} is queried by a dashboard but has no sample"
        for matchers in uses:
            missing = set(matchers) - labels[metric]
            assert not missing, f"{metric} has no label(s) {missing} a panel filters on"


# ---------------------------------------------------------------- 2. every real service


def build_service_runtime(service: str, settings_for, topic: str) -> ServiceRuntime:
    try:
        bootstrap = importlib.import_module(f"kauppa.{service}.bootstrap")
    except ImportError as exc:
        pytest.skip(f"kauppa.{service} is not built yet: {exc}")
    settings = settings_for(settings_class(service), service_name=service, consume_topics=[topic])
    runtime = bootstrap.build_runtime(settings)
    assert isinstance(runtime, ServiceRuntime)
    return runtime


@pytest.mark.parametrize("service", service_names())
async def test_each_service_exports_what_its_panels_query(
    service: str, infra, settings_for, runtimes
) -> None:
    topic = await private_topic(infra.kafka_bootstrap_servers)
    rt = build_service_runtime(service, settings_for, topic)
    runtimes.append(rt)
    await rt.start()
    declared, _sampled, _labels = await scrape(rt)
    for metric, uses in QUERIES.items():
        for matchers in uses:
            wanted = matchers.get("service")
            if wanted is None and metric not in KIT:
                pytest.fail(f"{metric} is service-specific: its panel must filter on service=...")
            if wanted in (None, service):
                assert metric in declared, f"{service} does not export {metric}"
