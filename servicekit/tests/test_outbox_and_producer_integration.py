"""The outbox keeps a transaction's events in rows of bounded size, the relay sends what a
crash left in order, and the producer's batch path partitions like ``send()`` does."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaProducer
from kauppa.contracts import envelope, examples, to_kafka
from kauppa.contracts.topics import LEADS_HANDOFF, LEADS_QUALIFIED, Topic
from kauppa.devkit.testing import TopicReader
from kauppa.servicekit import unit_of_work
from kauppa.servicekit.deadletters import RawRecord
from kauppa.servicekit.kafka_admin import create_topics
from kauppa.servicekit.producer import EventProducer, ProducerRecord
from kauppa.servicekit.runtime import ServiceRuntime

from .tally_service import handlers

pytestmark = pytest.mark.integration


async def test_relay_sends_a_crashed_transactions_rows_in_order(
    infra, settings_for, runtimes, monkeypatch
):
    """Forty events of one lead (one partition) committed in one transaction, split over
    several outbox rows; the process dies before publishing. After restart the relay
    sends every event once, in the order they were emitted, and empties the outbox."""
    monkeypatch.setattr(unit_of_work, "OUTBOX_ROW_BYTES", 8_000)
    lead = examples.lead_qualified()
    envs = [envelope(lead, source="test") for _ in range(40)]
    raws = []
    for offset, env in enumerate(envs):
        _topic, key, value, headers = to_kafka(env)
        raws.append(RawRecord(LEADS_QUALIFIED.name, 0, offset, key, value, headers))

    settings = settings_for(service_name="tally")
    crashed = ServiceRuntime(settings, handlers, consume=False, run_relay=False)
    await crashed.start()
    outcome = await crashed.pipeline.apply(raws)
    assert outcome.handled == 40
    rows = await crashed.db["_outbox"].find().to_list()
    assert len(rows) > 1, "the transaction's events span several rows"
    assert sum(r["count"] for r in rows) == 40
    assert await crashed.publisher.backlog() == 40
    await crashed.stop()

    async with TopicReader(infra.kafka_bootstrap_servers, LEADS_HANDOFF.name) as out:
        restarted = ServiceRuntime(settings, handlers, consume=False)
        runtimes.append(restarted)
        await restarted.start()
        await out.wait_for_events("LeadRejected", count=40, lead_id=lead.lead_id, timeout=20)
        await asyncio.sleep(1.0)
        sent = [e for e in out.envelopes("LeadRejected") if e.event.lead_id == lead.lead_id]
    assert [e.causation_id for e in sent] == [e.id for e in envs]
    assert await restarted.db["_outbox"].count_documents({}) == 0
    assert await restarted.publisher.backlog() == 0


async def test_batch_send_partitions_like_send_and_keeps_order(infra, kafka_settings):
    topic = "kit.test.partitioning"
    await create_topics(infra.kafka_bootstrap_servers, [Topic(topic, "key", partitions=3)])
    keys = [f"customer-{i % 17}".encode() for i in range(300)]
    # Big values: more than one producer batch per partition.
    records = [
        ProducerRecord(topic, k, f"{n:04d}".encode() + b"." * 2000, [("n", str(n).encode())])
        for n, k in enumerate(keys)
    ]
    producer = EventProducer(kafka_settings, "kit-test")
    await producer.start()
    plain = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap_servers)
    await plain.start()
    try:
        await producer.send_all(records)
        expected = {}
        for k in set(keys):  # where aiokafka's own send() puts each key
            meta = await (await plain.send(topic, key=k, value=b"probe"))
            expected[k] = meta.partition
    finally:
        await producer.stop()
        await plain.stop()

    async with TopicReader(infra.kafka_bootstrap_servers, topic, from_beginning=True) as got:
        total = len(records) + len(expected)
        await got.wait_for(lambda r: len(r.records) >= total, what=f"{total} records")
    data = [m for m in got.records if m.value != b"probe"]
    assert len(data) == len(records)
    for m in data:
        assert m.partition == expected[m.key]
    per_key: dict[bytes, list[int]] = {}
    for m in sorted(data, key=lambda m: (m.partition, m.offset)):
        per_key.setdefault(m.key, []).append(int(m.value[:4]))
    for numbers in per_key.values():
        assert numbers == sorted(numbers), "order within a key is kept"


async def test_batch_send_does_not_wait_out_the_linger(infra, kafka_settings):
    """``send_all`` hands over complete batches: they go out at once, not after
    ``linger_ms`` (a wait for more records that will not come, paid on every hop)."""
    topic = "kit.test.linger"
    await create_topics(infra.kafka_bootstrap_servers, [Topic(topic, "key", partitions=3)])
    lingering = kafka_settings.model_copy(update={"linger_ms": 3_000})
    producer = EventProducer(lingering, "kit-test-linger")
    await producer.start()
    try:
        records = [ProducerRecord(topic, f"k{i}".encode(), b"v", []) for i in range(30)]
        await producer.send_all(records)  # the first send also fetches metadata
        loop = asyncio.get_running_loop()
        started = loop.time()
        await producer.send_all(records)
        took = loop.time() - started
    finally:
        await producer.stop()
    assert took < 1.5, f"send_all took {took:.2f} s with linger_ms 3000"
