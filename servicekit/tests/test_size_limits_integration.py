"""Size is a contract, on the real broker and mongod: contract bounds dead-letter, outgoing
events are checked against the broker's max message size before commit (handler, HTTP
command, outbox relay), and a dead letter too large for its topic is stored truncated
with its full bytes in the database, and replayed whole."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, Request
from kauppa.contracts import Envelope, LeadQualified, LeadRejected, envelope, examples, to_kafka
from kauppa.contracts.topics import LEADS_HANDOFF, LEADS_QUALIFIED, Topic, dead_letter_topic
from kauppa.devkit.testing import TopicReader, eventually, publish_raw
from kauppa.devkit.testing.http import asgi_client, bearer
from kauppa.servicekit.auth import Principal, require
from kauppa.servicekit.deadletters import (
    BODIES,
    FULL_REF,
    RawRecord,
    read_dead_letters,
    replay,
)
from kauppa.servicekit.http import create_app, idempotent_command
from kauppa.servicekit.kafka_admin import create_topics
from kauppa.servicekit.pipeline import Handlers
from kauppa.servicekit.producer import ProducerRecord
from kauppa.servicekit.runtime import ServiceRuntime
from kauppa.servicekit.unit_of_work import OUTBOX, OversizedEvent, UnitOfWork, outbox_document

pytestmark = pytest.mark.integration

Ops = Annotated[Principal, Depends(require("ops"))]
LIMIT = 8 * 1024  # the broker's max message size in these tests

handlers = Handlers()


def rejection(lead: LeadQualified, copies: int, at: Any) -> LeadRejected:
    """A rejection repeating the lead's notes ``copies`` times: 3 x 4,000 characters of
    notes make an event over ``LIMIT``."""
    return LeadRejected(
        lead_id=lead.lead_id,
        organisation_id=lead.organisation_id,
        source=lead.source,
        problems=[lead.notes or ""] * copies,
        rejected_at=at,
    )


@handlers.on_batch(LeadQualified, emits=[LeadRejected])
async def echo(batch: list[Envelope], uow: UnitOfWork) -> None:
    for env in batch:
        lead = env.event
        assert isinstance(lead, LeadQualified)
        await uow.db["seen"].insert_one({"_id": lead.lead_id}, session=uow.session)
        uow.emit(rejection(lead, 3, uow.now), cause=env)


def runtime(settings_for, kafka_settings, **kw: Any) -> ServiceRuntime:
    name = f"size{uuid.uuid4().hex[:6]}"
    kafka = kafka_settings.model_copy(update={"max_message_bytes": LIMIT})
    extra = kw.pop("settings", {})
    kw.setdefault("emits", [LeadRejected])  # what the tests emit outside the handler
    return ServiceRuntime(settings_for(service_name=name, kafka=kafka, **extra), handlers, **kw)


def raw_of(lead: LeadQualified, offset: int) -> RawRecord:
    _topic, key, value, headers = to_kafka(envelope(lead, source="test"))
    return RawRecord(LEADS_QUALIFIED.name, 0, offset, key, value, headers)


async def test_events_over_the_contract_bounds_are_dead_lettered_schema_invalid(
    infra, settings_for, kafka_settings, runtimes
):
    # A topic of the test's own: the shared one holds other tests' bad records, which
    # this test's new consumer group would read and count too.
    topic = f"kauppa.test.size-{uuid.uuid4().hex[:8]}"
    await create_topics(infra.kafka_bootstrap_servers, [Topic(topic, "lead_id", partitions=1)])
    rt = runtime(settings_for, kafka_settings, settings={"consume_topics": [topic]})
    runtimes.append(rt)
    await rt.start()
    good = examples.lead_qualified(notes="fine")
    key = good.lead_id.encode()
    long_id = examples.lead_qualified()
    _t, _k, long_id_value, long_id_headers = to_kafka(envelope(long_id, source="test"))
    long_id_value = long_id_value.replace(long_id.lead_id.encode(), b"L" * 300)
    long_notes = examples.lead_qualified(notes="short")
    _t, _k, long_notes_value, long_notes_headers = to_kafka(envelope(long_notes, source="test"))
    long_notes_value = long_notes_value.replace(b'"short"', b'"' + b"n" * 5000 + b'"')
    _t, _k, good_value, good_headers = to_kafka(envelope(good, source="test"))
    async with TopicReader(infra.kafka_bootstrap_servers, LEADS_HANDOFF.name) as out:
        await publish_raw(
            infra.kafka_bootstrap_servers,
            [
                (topic, key, long_id_value, long_id_headers),
                (topic, key, long_notes_value, long_notes_headers),
                (topic, key, good_value, good_headers),
            ],
        )
        await out.wait_for_events("LeadRejected", lead_id=good.lead_id)
    dead = rt.metrics.dead_letters.labels(rt.name, "schema_invalid")._value
    assert await eventually(dead.get, lambda n: n >= 2) == 2
    letters = [d for d in await read_dead_letters(kafka_settings, rt.name) if d.record.key == key]
    assert sorted(d.reason_kind for d in letters) == ["schema_invalid", "schema_invalid"]
    reasons = " | ".join(d.reason for d in letters)
    assert "lead_id" in reasons and "at most 128 characters" in reasons
    assert "notes" in reasons and "at most 4000 characters" in reasons
    assert await rt.db["seen"].count_documents({}) == 1


async def test_a_handlers_oversized_event_dead_letters_its_cause_before_commit(
    infra, settings_for, kafka_settings, runtimes
):
    rt = runtime(settings_for, kafka_settings, consume=False, run_relay=False)
    runtimes.append(rt)
    await rt.start()
    big = examples.lead_qualified(notes="b" * 3_500)  # its echo: 3 x 3,500 bytes of notes
    small = examples.lead_qualified(notes="s")
    outcome = await rt.pipeline.apply([raw_of(big, 1), raw_of(small, 2)])
    assert (outcome.handled, outcome.dead_lettered) == (1, 1)
    assert [e.event.lead_id for e in outcome.published] == [small.lead_id]
    assert await rt.db["seen"].find_one({"_id": big.lead_id}) is None, "rolled back"
    outbox = await rt.db[OUTBOX].find().to_list()
    assert [r["records"][0]["value"] for r in outbox] == [outcome.committed.records[0].value]
    [letter] = await read_dead_letters(kafka_settings, rt.name)
    assert letter.reason_kind == "handler_error"
    assert letter.reason.startswith("OversizedEvent: LeadRejected event of ")
    assert f"exceeds the broker's max message size of {LIMIT} bytes" in letter.reason


async def test_an_http_command_with_an_oversized_event_gets_413_and_commits_nothing(
    infra, settings_for, kafka_settings, runtimes
):
    rt = runtime(settings_for, kafka_settings, consume=False, run_relay=False)
    runtimes.append(rt)
    await rt.start()
    router = APIRouter()

    @router.post("/leads/{lead_id}/reject")
    async def reject(lead_id: str, request: Request, principal: Ops) -> Any:
        copies = int((await request.json())["copies"])
        lead = examples.lead_qualified(lead_id=lead_id, notes="r" * 3_000)

        async def work(uow: UnitOfWork) -> dict[str, Any]:
            await uow.db["seen"].insert_one({"_id": lead_id}, session=uow.session)
            uow.emit(rejection(lead, copies, uow.now))
            return {"lead_id": lead_id, "_status": 201}

        return await idempotent_command(request, principal, work)

    app = create_app(rt, [router], manage_runtime=False)
    auth = {**bearer(rt.settings, "ops-1", "ops"), "Idempotency-Key": "k1"}
    async with asgi_client(app) as client:
        too_big = await client.post("/leads/l-big/reject", json={"copies": 3}, headers=auth)
        assert too_big.status_code == 413, too_big.text
        body = too_big.json()
        assert "max message size" in body["detail"] and body["max_message_bytes"] == LIMIT
        assert body["size"] > LIMIT
        fits = await client.post(
            "/leads/l-ok/reject", json={"copies": 1}, headers={**auth, "Idempotency-Key": "k2"}
        )
        assert fits.status_code == 201, fits.text
    assert [d["_id"] async for d in rt.db["seen"].find()] == ["l-ok"]
    assert await rt.db["_idempotency"].count_documents({}) == 1


async def test_the_relay_dead_letters_an_oversized_outbox_event_instead_of_resending_it(
    infra, settings_for, kafka_settings, runtimes
):
    """A row written before the check existed (or before the limit was lowered)."""
    rt = runtime(settings_for, kafka_settings, consume=False, run_relay=False)
    runtimes.append(rt)
    await rt.start()
    lead = examples.lead_qualified(notes="o" * 3_900)
    big_env = envelope(rejection(lead, 3, rt.clock.now()), source="test")
    small_env = envelope(rejection(lead, 1, rt.clock.now()), source="test")
    records = [ProducerRecord(*to_kafka(e)) for e in (big_env, small_env)]
    with pytest.raises(OversizedEvent):  # today's check refuses it before commit
        await rt.committer.commit(lambda uow: _emit(uow, big_env))
    old = rt.clock.now() - timedelta(minutes=1)
    await rt.db[OUTBOX].insert_one(outbox_document("old-row", [big_env, small_env], records, old))
    async with TopicReader(infra.kafka_bootstrap_servers, LEADS_HANDOFF.name) as out:
        assert await rt.publisher.relay_once() == 1
        await out.wait_for(lambda r: any(e.id == small_env.id for e in r.envelopes()))
        assert not any(e.id == big_env.id for e in out.envelopes())
    assert await rt.db[OUTBOX].count_documents({}) == 0
    assert await rt.publisher.relay_once() == 0, "never resent"
    assert rt.metrics.dead_letters.labels(rt.name, "event_too_large")._value.get() == 1
    [letter] = await read_dead_letters(kafka_settings, rt.name)
    assert letter.reason_kind == "event_too_large" and "OversizedEvent" in letter.reason
    assert letter.origin_topic == LEADS_HANDOFF.name and letter.ce_id == big_env.id
    assert letter.full_ref is not None, "too large for the topic as well: stored whole"
    stored = await rt.db[BODIES].find_one({"_id": letter.full_ref})
    assert stored is not None and stored["value"] == records[0].value


async def _emit(uow: UnitOfWork, env: Envelope) -> None:
    uow.emit(env.event)


async def test_a_dead_letter_too_large_for_its_topic_is_truncated_and_replayed_whole(
    infra, settings_for, kafka_settings, runtimes
):
    rt = runtime(settings_for, kafka_settings, consume=False, run_relay=False)
    runtimes.append(rt)
    await rt.start()
    origin = Topic(f"kauppa.size-test.{rt.name}", "key", partitions=1)
    await create_topics(infra.kafka_bootstrap_servers, [origin])
    # Fits in a broker message by itself; the dlq_* headers push it over.
    near = b"\x00" + b"n" * (LIMIT - 400)
    huge = b"\x00" + b"h" * (LIMIT * 6)
    headers = [("ce_type", b"fi.kauppa.LeadQualified.v1"), ("ce_id", b"e-1"), ("x-big", b"x" * 900)]
    raws = [
        RawRecord(origin.name, 0, 7, b"k-near", near, headers),
        RawRecord(origin.name, 0, 8, b"k-huge", huge, headers),
    ]
    outcome = await rt.pipeline.apply(raws)
    assert outcome.dead_lettered == 2
    letters = {d.record.key: d for d in await read_dead_letters(kafka_settings, rt.name)}
    assert set(letters) == {b"k-near", b"k-huge"}
    for key, full in ((b"k-near", near), (b"k-huge", huge)):
        d = letters[key]
        assert d.reason_kind == "undecodable" and d.origin_offset in (7, 8)
        assert d.full_ref is not None, "stored truncated, with a pointer"
        assert len(d.record.value or b"") < len(full)
        assert (d.record.value or b"") == full[: len(d.record.value or b"")]
        size = len(d.record.key or b"") + len(d.record.value or b"")
        size += sum(len(k) + len(v) for k, v in d.record.headers)
        assert size <= LIMIT
        doc = await rt.db[BODIES].find_one({"_id": d.full_ref})
        assert doc is not None and doc["value"] == full
    assert dict(letters[b"k-near"].record.headers)["x-big"] == b"x" * 900, "headers kept"
    assert FULL_REF in dict(letters[b"k-huge"].record.headers)

    async with TopicReader(infra.kafka_bootstrap_servers, origin.name) as out:
        with pytest.raises(LookupError, match="database is needed"):
            await replay(kafka_settings, rt.name)  # never the truncated bytes
        done = await replay(kafka_settings, rt.name, db=rt.db)
        assert len(done) == 2
        await out.wait_for(lambda r: len(r.records) >= 2, what="2 replayed records")
    replayed = {r.key: r for r in out.records}
    assert replayed[b"k-near"].value == near and replayed[b"k-huge"].value == huge
    kept = [(k, v) for k, v in replayed[b"k-huge"].headers if k != "replayed_from"]
    assert kept == headers, "original headers, no dlq_* ones"
    assert (
        dead_letter_topic(rt.name).name
        in dict(replayed[b"k-huge"].headers)["replayed_from"].decode()
    )
