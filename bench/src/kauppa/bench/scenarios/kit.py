"""The minimal service built on the kit that `make bench` measures: consume an event,
one state upsert, one outgoing event; batch handler, one transaction per batch. The
outgoing event follows from the input alone, so the handler's ``prepare`` step builds
and encodes it before the transaction (see ``pipeline``).

The input is a ``DeliveryCompleted`` of ~250 bytes (the issue asks for ~300-byte
bodies); the answer a ``ContactDue`` of ~300 bytes. The raw pipe in the same run moves
the same records."""

from __future__ import annotations

from typing import Any

from kauppa.bench.harness import Scenario
from kauppa.contracts import ContactDue, DeliveryCompleted, Envelope, envelope, examples
from kauppa.contracts.topics import CONTACTS_DUE
from kauppa.servicekit.pipeline import Handlers
from kauppa.servicekit.runtime import ServiceRuntime
from kauppa.servicekit.settings import ServiceSettings
from kauppa.servicekit.unit_of_work import Emission, Preparation, UnitOfWork
from pymongo import UpdateOne

handlers = Handlers()


def answer(env: Envelope, prep: Preparation) -> Emission:
    """The pure part, done while the batch before commits: the answer needs nothing but
    the event, so it is built and encoded ahead."""
    delivery = env.event
    assert isinstance(delivery, DeliveryCompleted)
    return prep.emit(
        ContactDue(
            contact_id=f"{delivery.delivery_id}:feedback",
            customer_id=delivery.customer_id,
            organisation_id=delivery.organisation_id,
            seller_id="seller-bench",
            kind="feedback_call",
            due_at=prep.now,
            fired_at=prep.now,
            lateness_seconds=0.0,
        ),
        cause=env,
    )


@handlers.on_batch(DeliveryCompleted, prepare=answer, emits=[ContactDue])
async def record_and_answer(batch: list[Envelope], uow: UnitOfWork) -> None:
    await uow.db["deliveries"].bulk_write(
        [
            UpdateOne(
                {"_id": e.event.delivery_id},
                {"$set": {"customer_id": e.event.customer_id, "at": uow.now}},
                upsert=True,
            )
            for e in batch
        ],
        ordered=False,
        session=uow.session,
    )
    for env in batch:
        uow.emit_prepared(uow.plan(env))


def build(overrides: dict[str, Any]) -> ServiceRuntime:
    return ServiceRuntime(ServiceSettings(service_name="bench", **overrides), handlers)


def inputs(n: int) -> list[Envelope]:
    template = examples.delivery_completed(notes=None)
    return [
        envelope(
            template.model_copy(
                update={
                    "delivery_id": f"bench-{i}",
                    "deal_id": f"deal-bench-{i}",
                    "customer_id": f"cust-bench-{i}",
                }
            ),
            source="bench",
        )
        for i in range(n)
    ]


SCENARIOS = [
    Scenario(
        name="kit: minimal service (1 upsert + 1 event)",
        build_runtime=build,
        make_inputs=inputs,
        output_type="ContactDue",
        output_topic=CONTACTS_DUE.name,
    )
]
