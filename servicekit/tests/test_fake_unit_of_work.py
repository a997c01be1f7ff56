"""The fake unit of work keeps what code emits and schedules, with the same ids and
checks as the real one, and hands out the in-memory repositories it was given."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from kauppa.contracts import LeadQueued, envelope, examples
from kauppa.devkit.testing.fake_uow import FakeUnitOfWork
from kauppa.servicekit.emits import UndeclaredEmit
from kauppa.servicekit.unit_of_work import TimerRequest, UnitOfWork

NOW = datetime(2027, 2, 1, 8, 0, tzinfo=UTC)


class Leads:
    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow


class InMemoryLeads(Leads):
    def __init__(self) -> None:
        self.rows: dict[str, object] = {}


def test_events_timers_and_repositories() -> None:
    repo = InMemoryLeads()
    uow = FakeUnitOfWork(NOW, {Leads: repo})
    assert uow.repository(Leads) is repo
    cause = envelope(examples.lead_qualified(), source="up")
    queued = examples.lead_queued()
    first = uow.emit(queued, cause=cause)
    again = FakeUnitOfWork(NOW, {Leads: repo}).emit(queued, cause=cause)
    assert first.id == again.id  # derived from the cause, as in the real unit of work
    uow.schedule("sla:l-1", NOW, "sla", {"lead_id": "l-1"})
    uow.cancel("sla:l-0")
    assert [type(e) for e in uow.events] == [LeadQueued]
    assert uow.timers == [
        TimerRequest("sla:l-1", NOW, "sla", {"lead_id": "l-1"}),
        TimerRequest("sla:l-0", cancel=True),
    ]


def test_undeclared_events_and_direct_reads_are_refused() -> None:
    uow = FakeUnitOfWork(NOW, declared=frozenset())
    with pytest.raises(UndeclaredEmit):
        uow.emit(examples.lead_queued())
    with pytest.raises(AssertionError, match="repository"):
        uow.collection("leads")
    with pytest.raises(AssertionError, match="no in-memory Leads"):
        uow.repository(Leads)


def test_the_real_unit_of_work_builds_one_repository_per_kind() -> None:
    uow = UnitOfWork(db={"leads": object()}, session=None, now=NOW, source="t")  # type: ignore[arg-type]
    assert uow.repository(Leads) is uow.repository(Leads)
    assert uow.repository(Leads).uow is uow
