"""The minimal service built on the kit that `make bench` measures: consume a lead, one
state upsert, one outgoing event; batch handler, one transaction per batch."""

from __future__ import annotations

from typing import Any

from kauppa.contracts import Envelope, LeadQualified, LeadRejected, envelope, examples
from kauppa.contracts.topics import LEADS_HANDOFF
from kauppa.servicekit.benchmarking import Scenario
from kauppa.servicekit.pipeline import Handlers
from kauppa.servicekit.runtime import ServiceRuntime
from kauppa.servicekit.settings import ServiceSettings
from kauppa.servicekit.unit_of_work import UnitOfWork
from pymongo import UpdateOne

handlers = Handlers()


@handlers.on_batch(LeadQualified)
async def record_and_answer(batch: list[Envelope], uow: UnitOfWork) -> None:
    await uow.db["leads"].bulk_write(
        [
            UpdateOne(
                {"_id": e.event.lead_id},
                {"$set": {"source": e.event.source.system, "at": uow.now}},
                upsert=True,
            )
            for e in batch
        ],
        ordered=False,
        session=uow.session,
    )
    for env in batch:
        lead = env.event
        assert isinstance(lead, LeadQualified)
        uow.emit(
            LeadRejected(
                lead_id=lead.lead_id,
                organisation_id=lead.organisation_id,
                source=lead.source,
                problems=["bench"],
                rejected_at=uow.now,
            ),
            cause=env,
        )


def build(overrides: dict[str, Any]) -> ServiceRuntime:
    return ServiceRuntime(ServiceSettings(service_name="bench", **overrides), handlers)


def inputs(n: int) -> list[Envelope]:
    # ~300-byte bodies: a compact lead.
    template = examples.lead_qualified(notes=None, product_interest=["crm"])
    return [
        envelope(template.model_copy(update={"lead_id": f"bench-{i}"}), source="bench")
        for i in range(n)
    ]


SCENARIOS = [
    Scenario(
        name="kit: minimal service (1 upsert + 1 event)",
        build_runtime=build,
        make_inputs=inputs,
        output_type="LeadRejected",
        output_topic=LEADS_HANDOFF.name,
    )
]
