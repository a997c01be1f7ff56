"""The pure side of a handler's ``prepare`` step: ids and numbering (no I/O)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, cast

from kauppa.contracts import LeadRejected, envelope, examples, from_kafka
from kauppa.servicekit.unit_of_work import Preparation, UnitOfWork

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def uow() -> UnitOfWork:
    return UnitOfWork(db=cast(Any, None), session=cast(Any, None), now=NOW, source="svc")


def rejected(n: int) -> LeadRejected:
    return LeadRejected(
        lead_id="lead-1",
        organisation_id="org-1",
        source=examples.lead_qualified().source,
        problems=[f"p{n}"],
        rejected_at=NOW,
    )


CAUSE = envelope(examples.lead_qualified(lead_id="lead-1"), source="upstream")


def test_a_prepared_event_is_what_emit_would_have_made():
    prep = Preparation("svc", NOW)
    prepared = prep.emit(rejected(0), cause=CAUSE)
    direct = uow().emit(rejected(0), cause=CAUSE)
    # Equal but for the span id in the trace context (a new span for every event).
    assert replace(prepared.envelope, traceparent=None) == replace(direct, traceparent=None)
    assert prepared.envelope.traceparent.split("-")[1] == direct.traceparent.split("-")[1]
    topic, key, value, headers = prepared.record
    assert (topic, key) == (direct.topic, direct.subject.encode())
    assert from_kafka(headers, value) == prepared.envelope, "the encoded bytes are the event"


def test_events_emitted_in_the_transaction_number_after_the_prepared_ones():
    prep = Preparation("svc", NOW)
    first, second = prep.emit(rejected(0), cause=CAUSE), prep.emit(rejected(1), cause=CAUSE)
    work = uow()
    work.adopt(prep)
    # Emitted before the prepared ones are queued, and one prepared event dropped:
    # still no id taken twice, and a re-run numbers the same way.
    inside = work.emit(rejected(2), cause=CAUSE)
    work.emit_prepared(second)
    ids = [first.envelope.id, second.envelope.id, inside.id]
    assert len(set(ids)) == 3
    rerun = uow()
    rerun.adopt(prep)
    assert rerun.emit(rejected(2), cause=CAUSE).id == inside.id
    assert [e.id for e in work.outgoing] == [inside.id, second.envelope.id]


def test_plans_are_found_by_event():
    prep = Preparation("svc", NOW)
    prep.plans[CAUSE.id] = "plan"
    work = uow()
    work.adopt(prep)
    assert work.plan(CAUSE) == "plan"
    assert work.plan(envelope(examples.lead_qualified(), source="x")) is None
