"""A handler's pure ``prepare`` step on a real broker and a real mongod: events built and
encoded before the transaction go out once, with ids that do not clash with the ones the
handler emits inside it; a failing prepare dead-letters only its own event."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from kauppa.contracts import (
    Envelope,
    LeadQualified,
    LeadRejected,
    derived_event_id,
    envelope,
    examples,
    to_kafka,
)
from kauppa.contracts.topics import LEADS_HANDOFF, LEADS_QUALIFIED, dead_letter_topic
from kauppa.devkit.testing import TopicReader, publish_raw
from kauppa.servicekit.clock import ManualClock
from kauppa.servicekit.deadletters import RawRecord, read_dead_letters
from kauppa.servicekit.pipeline import Handlers
from kauppa.servicekit.runtime import ServiceRuntime
from kauppa.servicekit.unit_of_work import Emission, Preparation, UnitOfWork
from pymongo import UpdateOne

pytestmark = pytest.mark.integration
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def rejection(lead: LeadQualified, problem: str, at: datetime) -> LeadRejected:
    return LeadRejected(
        lead_id=lead.lead_id,
        organisation_id=lead.organisation_id,
        source=lead.source,
        problems=[problem],
        rejected_at=at,
    )


def plan(env: Envelope, prep: Preparation) -> tuple[str, Emission]:
    lead = env.event
    assert isinstance(lead, LeadQualified)
    if lead.notes == "explode":
        raise ValueError("this lead cannot be prepared")
    return lead.lead_id.upper(), prep.emit(rejection(lead, "prepared", prep.now), cause=env)


handlers = Handlers()


@handlers.on_batch(LeadQualified, prepare=plan, emits=[LeadRejected])
async def tally(batch: list[Envelope], uow: UnitOfWork) -> None:
    await uow.db["tally"].bulk_write(
        [
            UpdateOne(
                {"_id": e.event.lead_id},
                {"$inc": {"n": 1}, "$set": {"plan": uow.plan(e)[0]}},
                upsert=True,
            )
            for e in batch
        ],
        session=uow.session,
    )
    for env in batch:
        assert isinstance(env.event, LeadQualified)
        uow.emit(rejection(env.event, "in transaction", uow.now), cause=env)
        uow.emit_prepared(uow.plan(env)[1])


def runtime(settings_for, **kw) -> ServiceRuntime:
    return ServiceRuntime(settings_for(service_name="prepared"), handlers, **kw)


async def test_prepared_event_goes_out_once_beside_the_transactions_own(
    infra, settings_for, runtimes
):
    rt = runtime(settings_for)
    runtimes.append(rt)
    await rt.start()
    lead = examples.lead_qualified()
    env = envelope(lead, source="test")
    # After the three copies, on their partition: once it is handled, so are they.
    marker = examples.lead_qualified(lead_id=lead.lead_id + "-marker")
    _t, key, value, headers = to_kafka(env)
    _t, _k, marker_value, marker_headers = to_kafka(envelope(marker, source="test"))
    async with TopicReader(infra.kafka_bootstrap_servers, LEADS_HANDOFF.name) as out:
        await publish_raw(
            infra.kafka_bootstrap_servers,
            [(LEADS_QUALIFIED.name, key, value, headers)] * 3
            + [(LEADS_QUALIFIED.name, key, marker_value, marker_headers)],
        )
        await out.wait_for(
            lambda r: len(r.events("LeadRejected", lead_id=marker.lead_id)) >= 2,
            what="the marker's rejections",
        )
        sent = [e for e in out.envelopes("LeadRejected") if e.event.lead_id == lead.lead_id]
    assert sorted(e.event.problems[0] for e in sent) == ["in transaction", "prepared"]
    by_problem = {e.event.problems[0]: e for e in sent}
    key = by_problem["prepared"].event.partition_key()
    # The prepared event holds number 0 of its cause; the transaction's numbers follow.
    assert by_problem["prepared"].id == derived_event_id(env.id, LeadRejected.ce_type(), key, 0)
    assert by_problem["in transaction"].id == derived_event_id(
        env.id, LeadRejected.ce_type(), key, 1
    )
    assert by_problem["prepared"].causation_id == env.id
    doc = await rt.db["tally"].find_one({"_id": lead.lead_id})
    assert doc is not None and doc["n"] == 1 and doc["plan"] == lead.lead_id.upper()


async def test_failing_prepare_dead_letters_its_event_and_the_partition_flows(
    infra, settings_for, runtimes, kafka_settings
):
    rt = runtime(settings_for)
    runtimes.append(rt)
    await rt.start()
    boom = examples.lead_qualified(notes="explode")
    fine = examples.lead_qualified(lead_id=boom.lead_id + "-after")
    async with TopicReader(
        infra.kafka_bootstrap_servers, LEADS_HANDOFF.name, dead_letter_topic("prepared").name
    ) as out:
        # One key: the good event follows the failing one on the same partition.
        _t, key, boom_value, boom_headers = to_kafka(envelope(boom, source="test"))
        _t, _k, fine_value, fine_headers = to_kafka(envelope(fine, source="test"))
        await publish_raw(
            infra.kafka_bootstrap_servers,
            [
                (LEADS_QUALIFIED.name, key, boom_value, boom_headers),
                (LEADS_QUALIFIED.name, key, fine_value, fine_headers),
            ],
        )
        await out.wait_for_events("LeadRejected", lead_id=fine.lead_id)
        await out.wait_for(
            lambda r: any("dlq" in x.topic for x in r.records), what="the dead letter"
        )
    letters = [
        d
        for d in await read_dead_letters(kafka_settings, "prepared")
        if d.record.key == boom.partition_key().encode()
    ]
    assert [d.reason_kind for d in letters] == ["handler_error"]
    assert "cannot be prepared" in letters[0].reason
    assert await rt.db["tally"].find_one({"_id": boom.lead_id}) is None
    assert await rt.db["tally"].find_one({"_id": fine.lead_id}) is not None


async def test_events_by_http_and_a_rerun_are_prepared_alike(infra, settings_for, runtimes):
    """The HTTP intake path prepares too; the same record applied twice (a redelivery)
    is dropped by the inbox, prepared events and all."""
    rt = runtime(settings_for, consume=False, clock=ManualClock(T0))
    runtimes.append(rt)
    await rt.start()
    by_http = examples.lead_qualified()
    outcome = await rt.pipeline.process_envelopes([envelope(by_http, source="test")])
    assert sorted(e.event.problems[0] for e in outcome.published) == [
        "in transaction",
        "prepared",
    ]
    lead = examples.lead_qualified()
    _topic, key, value, headers = to_kafka(envelope(lead, source="test"))
    raw = RawRecord(LEADS_QUALIFIED.name, 0, 0, key, value, headers)
    first = await rt.pipeline.apply([raw])
    again = await rt.pipeline.apply([raw])
    assert len(first.published) == 2 and again.published == [] and again.duplicates == 1
    prepared = next(e for e in first.published if e.event.problems == ["prepared"])
    assert prepared.time == T0, "prepared at the service's clock"
