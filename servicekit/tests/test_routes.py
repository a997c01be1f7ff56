"""A service's handler table becomes the kit's handlers: bound to the service's deps,
declared emits kept, one function for several types stays one handler."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kauppa.contracts import (
    DealClosed,
    DeliveryCompleted,
    Envelope,
    LeadQualified,
    LeadQueued,
    envelope,
    examples,
)
from kauppa.devkit.testing.fake_uow import FakeUnitOfWork
from kauppa.servicekit.emits import declared
from kauppa.servicekit.routes import Every, On, handlers_from, timers_from
from kauppa.servicekit.timers import DueTimer
from kauppa.servicekit.unit_of_work import UnitOfWork

NOW = datetime(2027, 2, 1, 8, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Deps:
    seen: list[tuple[str, Any]]


async def take(batch: list[Envelope], uow: UnitOfWork, deps: Deps) -> None:
    deps.seen.append(("batch", [e.type for e in batch]))
    uow.emit(examples.lead_queued())


async def verdict(env: Envelope, uow: UnitOfWork, deps: Deps) -> None:
    deps.seen.append(("one", env.type))


async def remind(timers: list[DueTimer], uow: UnitOfWork, deps: Deps) -> None:
    deps.seen.append(("timers", len(timers)))


async def test_the_table_binds_deps_and_keeps_declarations() -> None:
    deps = Deps([])
    table = [
        On(LeadQualified, take, emits=[LeadQueued]),
        On(DealClosed, take, emits=[LeadQueued]),
        On(DeliveryCompleted, verdict, one=True),
    ]
    handlers = handlers_from(table, deps)
    q, lost = LeadQualified.ce_type(), DealClosed.ce_type()
    assert handlers.by_type[q] is handlers.by_type[lost]  # one handler for both types
    assert handlers.emits[q] == frozenset({LeadQueued})
    uow = FakeUnitOfWork(NOW)
    await handlers.by_type[q]([envelope(examples.lead_qualified(), source="t")], uow)
    delivered = envelope(examples.delivery_completed(), source="t")
    await handlers.by_type[DeliveryCompleted.ce_type()]([delivered, delivered], uow)
    assert deps.seen == [
        ("batch", [LeadQualified.ce_type()]),
        ("one", DeliveryCompleted.ce_type()),
        ("one", DeliveryCompleted.ce_type()),
    ]
    assert [type(e) for e in uow.events] == [LeadQueued]

    timers = timers_from([Every("sla", remind, emits=[LeadQueued])], deps)
    assert declared(timers["sla"]) == frozenset({LeadQueued})
    await timers["sla"]([], uow)
    assert deps.seen[-1] == ("timers", 0)


def test_the_kit_exports_what_a_service_uses() -> None:
    import kauppa.servicekit as kit

    assert kit.On is On and kit.UnitOfWork is UnitOfWork
    for name in kit.__all__:
        assert getattr(kit, name) is not None
