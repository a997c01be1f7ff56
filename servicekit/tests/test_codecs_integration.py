"""Every codec, both ways, with a foreign client (librdkafka through confluent-kafka) on
the real broker (issue 17, part 1). The services' side is in ``tests/test_codecs_integration.py``."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka.record.memory_records import MemoryRecords
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from kauppa.contracts import envelope, examples, from_kafka, to_kafka
from kauppa.contracts.topics import Topic
from kauppa.servicekit.kafka_admin import create_topics
from kauppa.servicekit.producer import EventProducer, ProducerRecord

pytestmark = pytest.mark.integration

CODECS = ("gzip", "snappy", "lz4", "zstd")
CODEC_IDS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}  # the batch attribute


def _read_all(bootstrap: str, topic: str, partitions: int, want: int) -> list[tuple]:
    """librdkafka reads the topic from the start (assign(): Tansu makes a group join
    with librdkafka's defaults take ~20 s)."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "codec-probe", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    out: list[tuple] = []
    try:
        for _ in range(200):  # at most ~20 s
            msg = consumer.poll(0.1)
            if msg is None:
                if len(out) >= want:
                    break
                continue
            assert msg.error() is None, msg.error()
            out.append((msg.headers() or [], msg.value()))
    finally:
        consumer.close()
    return out


async def test_the_kits_producer_compresses_with_each_codec_and_librdkafka_reads_it(
    infra, kafka_settings
):
    topic = Topic(f"kauppa.test.codecs-{uuid.uuid4().hex[:8]}", "lead_id", partitions=3)
    await create_topics(infra.kafka_bootstrap_servers, [topic])
    sent: dict[str, str] = {}
    for codec in CODECS:
        producer = EventProducer(
            kafka_settings.model_copy(update={"compression_type": codec}), f"codec-{codec}"
        )
        await producer.start()
        try:
            # The record batches send_all builds carry the codec.
            probe = producer._producer.create_batch()  # type: ignore[union-attr]
            probe.append(key=b"k", value=b"v" * 100, timestamp=None, headers=[])
            probe.close()
            built = MemoryRecords(bytes(probe._build())).next_batch()
            assert built.compression_type == CODEC_IDS[codec]
            records = []
            for _ in range(5):
                env = envelope(examples.lead_qualified(notes=codec), source="codec-test")
                _t, key, value, headers = to_kafka(env)
                records.append(ProducerRecord(topic.name, key, value, headers))
                sent[env.id] = codec
            await producer.send_all(records)
        finally:
            await producer.stop()
    got = await asyncio.to_thread(
        _read_all, infra.kafka_bootstrap_servers, topic.name, 3, len(sent)
    )
    decoded = {}
    for headers, value in got:
        env = from_kafka(headers, value)
        decoded[env.id] = env.event.notes
    assert decoded == sent
