"""Declared emissions: what a handler declares is what the AsyncAPI document sends, and
emitting anything else fails in tests (strict mode, on in the test suite)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from kauppa.contracts import (
    Envelope,
    HandoffReminderDue,
    LeadAssigned,
    LeadQualified,
    LeadRejected,
    envelope,
    examples,
)
from kauppa.servicekit import emits as emits_module
from kauppa.servicekit.emits import UndeclaredEmit, emits, is_strict, scope
from kauppa.servicekit.pipeline import Handlers
from kauppa.servicekit.unit_of_work import UnitOfWork

NOW = datetime(2025, 3, 4, 9, tzinfo=UTC)
LEAD = examples.lead_qualified()


def rejected() -> LeadRejected:
    return LeadRejected(
        lead_id=LEAD.lead_id,
        organisation_id=LEAD.organisation_id,
        source=LEAD.source,
        problems=["x"],
        rejected_at=NOW,
    )


def uow(declared: frozenset | None = None) -> UnitOfWork:
    return UnitOfWork(None, None, NOW, "kauppa/test", declared=declared)  # type: ignore[arg-type]


def test_the_test_suite_runs_strict():
    assert is_strict()


async def test_a_handler_emitting_what_it_declares_passes_and_anything_else_fails():
    handlers = Handlers()
    wanted: list[type] = [LeadRejected]

    @handlers.on(LeadQualified, emits=[LeadRejected])
    async def handle(env: Envelope, work: UnitOfWork) -> None:
        if wanted[0] is LeadRejected:
            work.emit(rejected(), cause=env)
        else:
            reminder = HandoffReminderDue(
                lead_id=LEAD.lead_id,
                organisation_id=LEAD.organisation_id,
                seller_id="s-1",
                assigned_at=NOW,
                respond_by=NOW,
                reminded_at=NOW,
            )
            work.emit(reminder, cause=env)  # not declared

    handler = handlers.by_type[LeadQualified.ce_type()]
    env = envelope(LEAD, source="test")
    work = uow()
    await handler([env], work)
    assert [type(e.event) for e in work.outgoing] == [LeadRejected]
    wanted[0] = HandoffReminderDue
    with pytest.raises(UndeclaredEmit, match="HandoffReminderDue"):
        await handler([env], uow())
    assert handlers.declared_emits() == {LeadRejected}


async def test_a_timer_handler_declares_with_the_decorator():
    @emits(HandoffReminderDue)
    async def remind(timers: list, work: UnitOfWork) -> None:
        work.emit(rejected())

    with pytest.raises(UndeclaredEmit, match="LeadRejected"):
        await remind([], uow())
    assert emits_module.declared(remind) == {HandoffReminderDue}


def test_outside_handlers_the_services_declared_set_applies():
    uow(frozenset({LeadRejected})).emit(rejected())
    with pytest.raises(UndeclaredEmit):
        uow(frozenset({LeadAssigned})).emit(rejected())
    uow(None).emit(rejected())  # nothing declared anywhere: unchecked (kit tests, tools)
    with scope([LeadRejected]):
        uow(frozenset({LeadAssigned})).emit(rejected())  # the narrower scope wins


def test_without_strict_mode_an_undeclared_event_goes_out_with_a_warning(monkeypatch):
    monkeypatch.setattr(emits_module, "_strict", False)
    work = uow(frozenset({LeadAssigned}))
    work.emit(rejected())
    assert len(work.outgoing) == 1
