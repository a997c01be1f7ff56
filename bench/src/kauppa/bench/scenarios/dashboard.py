"""``make bench``: the dashboard's read-model path, LeadQualified in -> read models updated.

The dashboard emits nothing, and the kit's benchmark counts outputs on a topic. So the
bench runtime (only it) wraps the real batch handler with a probe that, after the
read-model writes, emits one ``LeadRejected`` marker per lead into the same transaction:
an output appears only once its read-model write has committed. The probe adds an outbox
write per event, so the measured rate understates the dashboard's own; the bench runtime
subscribes to every topic except the probe's output topic."""

from __future__ import annotations

from typing import Any

from kauppa.bench.harness import Scenario
from kauppa.contracts import Envelope, LeadQualified, LeadRejected, envelope, examples, topics
from kauppa.dashboard.bootstrap import build_runtime
from kauppa.dashboard.handlers import Deps, update_read_models
from kauppa.dashboard.settings import DashboardSettings
from kauppa.servicekit.runtime import ServiceRuntime
from kauppa.servicekit.unit_of_work import UnitOfWork


async def _with_probe(batch: list[Envelope], uow: UnitOfWork) -> None:
    await update_read_models(batch, uow, Deps())
    for env in batch:
        lead = env.event
        if isinstance(lead, LeadQualified) and lead.organisation_id == BENCH_ORG:
            uow.emit(
                LeadRejected(
                    lead_id=lead.lead_id,
                    organisation_id=lead.organisation_id,
                    source=lead.source,
                    problems=["dashboard-bench-probe"],
                    rejected_at=uow.now,
                ),
                cause=env,
            )


BENCH_ORG = "org-bench-dashboard"


def _runtime(overrides: dict[str, Any]) -> ServiceRuntime:
    # Every topic but the probe's output topic, so the markers are not consumed back.
    consumed = [t.name for t in topics.ALL_TOPICS if t != topics.LEADS_HANDOFF]
    settings = DashboardSettings(service_urls={}, consume_topics=consumed, **overrides)
    runtime = build_runtime(settings)
    runtime.handlers.add(LeadQualified, _with_probe, emits=[LeadRejected])
    return runtime


def _leads(n: int) -> list[Envelope]:
    template = examples.lead_qualified(organisation_id=BENCH_ORG, notes=None)
    return [
        envelope(template.model_copy(update={"lead_id": f"dash-bench-{i}"}), source="bench")
        for i in range(n)
    ]


SCENARIOS = [
    Scenario(
        name="dashboard: LeadQualified -> read models (+probe)",
        build_runtime=_runtime,
        make_inputs=_leads,
        output_type="LeadRejected",
        output_topic=topics.LEADS_HANDOFF.name,
    )
]
