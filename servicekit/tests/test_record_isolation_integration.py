"""A record never takes its neighbours down (issue 17, part 2), on a real broker and mongod.

Whatever one record does (an exception of any type while it is decoded or prepared, or
a failure outside the handlers that strikes only batches holding it), the records beside
it are handled, it is dead-lettered with the exception's type and message, and the
consumer's offsets never pass a record that was neither handled nor dead-lettered."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from kauppa.contracts import envelope, examples, to_kafka
from kauppa.contracts.topics import Topic, dead_letter_topic
from kauppa.devkit.testing import TopicReader, eventually, publish_raw
from kauppa.servicekit.deadletters import read_dead_letters
from kauppa.servicekit.kafka_admin import create_topics
from kauppa.servicekit.pipeline import was_handled
from kauppa.servicekit.runtime import ServiceRuntime

from .tally_service import TIMER_HANDLERS, handlers

pytestmark = pytest.mark.integration

OVERFLOWS = "0001-01-01T00:00:00+01:00"  # year 1 in UTC+1 is before year 1 in UTC


async def tally_on_own_topic(infra, settings_for) -> tuple[ServiceRuntime, str]:
    """The kit's tally service reading a topic of the test's own: what it leaves there
    (records that are dead-lettered) does not reach other tests' consumers."""
    topic = f"kauppa.test.isolation-{uuid.uuid4().hex[:8]}"
    await create_topics(infra.kafka_bootstrap_servers, [Topic(topic, "lead_id", partitions=1)])
    settings = settings_for(service_name="tally", consume_topics=[topic])
    return ServiceRuntime(settings, handlers, timer_handlers=TIMER_HANDLERS), topic


def _record(lead, *, ce_time: str | None = None, body_time: str | None = None):
    env = envelope(lead, source="test")
    topic, key, value, headers = to_kafka(env)
    if ce_time is not None:
        headers = [(k, ce_time.encode() if k == "ce_time" else v) for k, v in headers]
    if body_time is not None:
        body = json.loads(value)
        body["qualified_at"] = body_time
        value = json.dumps(body).encode()
    return env, (topic, key, value, headers)


async def _all_handled(rt: ServiceRuntime, ids: list[str]) -> list[str]:
    return [i for i in ids if not await was_handled(rt.db, i)]


async def test_timestamps_that_overflow_are_dead_lettered_and_their_neighbours_handled(
    infra, settings_for, runtimes, kafka_settings
):
    """12 good leads and 2 whose timestamps overflow when normalised to UTC (one in
    ``ce_time``, one in the body), in one batch on one partition: the 12 are handled, the
    2 dead-lettered naming ``OverflowError``. A good lead sent after them is handled too,
    and only then do we look: the offsets went past the batch, so it must be done."""
    rt, topic = await tally_on_own_topic(infra, settings_for)
    runtimes.append(rt)
    await rt.start()
    base = examples.lead_qualified()
    key = base.lead_id.encode()
    goods, records = [], []
    for n in range(14):
        lead = examples.lead_qualified(lead_id=f"{base.lead_id}-{n}")
        if n == 4:
            env, rec = _record(lead, ce_time=OVERFLOWS)
        elif n == 9:
            env, rec = _record(lead, body_time=OVERFLOWS)
        else:
            env, rec = _record(lead)
            goods.append(env.id)
        records.append((topic, key, *rec[2:]))  # one key: one partition, in order
    later, later_rec = _record(examples.lead_qualified(lead_id=f"{base.lead_id}-later"))
    async with TopicReader(infra.kafka_bootstrap_servers, dead_letter_topic("tally").name) as dl:
        await publish_raw(infra.kafka_bootstrap_servers, records)  # one batch
        await publish_raw(infra.kafka_bootstrap_servers, [(topic, key, *later_rec[2:])])
        await eventually(lambda: was_handled(rt.db, later.id))
        assert await _all_handled(rt, goods) == [], "the good neighbours were lost"
        await dl.wait_for(
            lambda r: sum(1 for x in r.records if x.key == key) >= 2, what="2 dead letters"
        )
    letters = [d for d in await read_dead_letters(kafka_settings, "tally") if d.record.key == key]
    assert len(letters) == 2
    assert sorted(d.origin_offset for d in letters) == sorted({d.origin_offset for d in letters}), (
        "each once"
    )
    for d in letters:
        assert "OverflowError" in d.reason, d.reason
        assert d.origin_topic == topic
    assert {d.reason_kind for d in letters} <= {"undecodable", "schema_invalid"}
    assert (
        sum(
            rt.metrics.dead_letters.labels("tally", kind)._value.get()
            for kind in ("undecodable", "schema_invalid")
        )
        == 2
    )


async def test_a_record_that_breaks_batches_outside_the_handlers_is_isolated_and_dead_lettered(
    infra, settings_for, runtimes, kafka_settings
):
    """One record makes decoding raise, another makes every batch holding it fail after
    decoding (stand-ins for bugs or plumbing that one record breaks: the inbox, the
    outbox, a dead letter that cannot be sent). Each batch is retried, then split until
    the record is alone; it is dead-lettered (``pipeline_error``, with the exception's
    type) and every other lead is handled exactly once. Before, the consumer rejoined
    and failed again, forever, and nothing behind the record was handled."""
    rt, topic = await tally_on_own_topic(infra, settings_for)
    runtimes.append(rt)
    consumer = rt.consumer
    assert consumer is not None
    consumer.retry_pause = 0.01
    real_decode, real_apply = consumer.decode, consumer.apply

    async def decode(records):
        if any(b"poison-decode" in (r.value or b"") for r in records):
            raise RecursionError("a record the decoder cannot take")
        return await real_decode(records)

    async def apply(decoded):
        if any(env.event.notes == "poison-apply" for _, env in decoded.batch):
            raise RuntimeError("a record the plumbing cannot take")
        return await real_apply(decoded)

    consumer.decode, consumer.apply = decode, apply
    await rt.start()
    base = examples.lead_qualified()
    key = base.lead_id.encode()
    leads = [examples.lead_qualified(lead_id=f"{base.lead_id}-{n}") for n in range(40)]
    leads[7] = examples.lead_qualified(lead_id=f"{base.lead_id}-7", notes="poison-decode")
    leads[30] = examples.lead_qualified(lead_id=f"{base.lead_id}-30", notes="poison-apply")
    records = []
    for lead in leads:
        _env, rec = _record(lead)
        records.append((topic, key, *rec[2:]))
    async with TopicReader(infra.kafka_bootstrap_servers, dead_letter_topic("tally").name) as dl:
        await publish_raw(infra.kafka_bootstrap_servers, records)
        good = [lead.lead_id for n, lead in enumerate(leads) if n not in (7, 30)]

        async def missing() -> list[str]:
            return [i for i in good if await rt.db["tally"].find_one({"_id": i}) is None]

        await eventually(missing, lambda m: m == [], timeout=30)
        await dl.wait_for(
            lambda r: sum(1 for x in r.records if x.key == key) >= 2, what="2 dead letters"
        )
    letters = [d for d in await read_dead_letters(kafka_settings, "tally") if d.record.key == key]
    assert sorted((d.reason_kind, d.reason.split(":")[0]) for d in letters) == [
        ("pipeline_error", "RecursionError"),
        ("pipeline_error", "RuntimeError"),
    ]
    assert {d.origin_offset for d in letters} == {
        min(d.origin_offset for d in letters),
        max(d.origin_offset for d in letters),
    }
    for n in (7, 30):
        assert await rt.db["tally"].find_one({"_id": leads[n].lead_id}) is None
    async for doc in rt.db["tally"].find({"_id": {"$in": good}}):
        assert doc["n"] == 1, doc
    failures = rt.metrics.batch_failures
    assert failures.labels("tally", "RuntimeError")._value.get() >= 1
    assert failures.labels("tally", "RecursionError")._value.get() >= 1
    assert rt.metrics.dead_letters.labels("tally", "pipeline_error")._value.get() == 2


async def test_what_faststream_would_swallow_is_logged_with_its_type(infra, settings_for, runtimes):
    """FastStream catches errors in its fetch loop, in a crashed consume task and from
    the subscriber, and logs them through its own logger: once disabled (silent), now
    passed on with the exception's type. Its routine per-batch lines stay quiet."""
    import logging

    from structlog.testing import capture_logs

    rt, _topic = await tally_on_own_topic(infra, settings_for)
    runtimes.append(rt)
    await rt.start()
    assert rt.consumer is not None
    framework_logger = rt.consumer.subscriber._outer_config.logger  # what FastStream calls
    try:
        raise OSError("fetch failed")
    except OSError as exc:
        error = exc
    with capture_logs() as logs:
        framework_logger.log("Kafka error occurred", log_level=logging.ERROR, exc_info=error)
        framework_logger.log("Received", log_level=logging.INFO)
    assert [(x["log_level"], x["error_type"], x["error"]) for x in logs] == [
        ("error", "OSError", "fetch failed")
    ]
    assert logs[0]["message"] == "Kafka error occurred"


async def test_offsets_never_pass_a_record_that_could_not_be_dead_lettered(
    infra, settings_for, runtimes
):
    """The poison record is isolated but its dead letter cannot be written either: the
    records before it are handled, the committed offset stays at the poison, and the
    consumer tries again (after a growing pause) instead of skipping it. Once dead
    letters can be written again, it is dead-lettered and the rest flows."""
    from aiokafka import TopicPartition

    rt, topic = await tally_on_own_topic(infra, settings_for)
    runtimes.append(rt)
    consumer = rt.consumer
    assert consumer is not None
    consumer.retry_pause = 0.01
    real_apply, real_dead_letter = consumer.apply, consumer.dead_letter

    async def apply(decoded):
        if any(env.event.notes == "poison" for _, env in decoded.batch):
            raise RuntimeError("a record the plumbing cannot take")
        return await real_apply(decoded)

    async def dead_letters_down(raw, exc):
        raise OSError("the dead-letter topic is refusing writes")

    consumer.apply, consumer.dead_letter = apply, dead_letters_down
    await rt.start()
    base = examples.lead_qualified()
    key = base.lead_id.encode()
    leads = [examples.lead_qualified(lead_id=f"{base.lead_id}-{n}") for n in range(10)]
    leads[5] = examples.lead_qualified(lead_id=f"{base.lead_id}-5", notes="poison")
    async with TopicReader(infra.kafka_bootstrap_servers, topic) as src:
        await publish_raw(
            infra.kafka_bootstrap_servers,
            [(topic, key, *_record(lead)[1][2:]) for lead in leads],
        )
        await src.wait_for(lambda r: sum(1 for x in r.records if x.key == key) == 10)
        ours = [x for x in src.records if x.key == key]
    poison = ours[5]
    tp = TopicPartition(poison.topic, poison.partition)

    async def handled(n: int) -> bool:
        return await rt.db["tally"].find_one({"_id": leads[n].lead_id}) is not None

    for n in range(5):
        await eventually(lambda n=n: handled(n))
    await eventually(lambda: rt.metrics.batch_failures.labels("tally", "OSError")._value.get())
    await asyncio.sleep(1.5)  # a rejoin, and more tries
    assert consumer._consumer is not None
    committed = await consumer._consumer.committed(tp)
    assert committed is None or committed <= poison.offset, "committed past the poison"
    assert not any([await handled(n) for n in range(6, 10)]), "handled past the poison"

    consumer.dead_letter = real_dead_letter  # dead letters can be written again
    for n in range(6, 10):
        await eventually(lambda n=n: handled(n), timeout=30)
    assert not await handled(5)
    await eventually(lambda: rt.metrics.dead_letters.labels("tally", "pipeline_error")._value.get())
