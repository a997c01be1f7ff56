"""The Kafka producer every service publishes through (outbox, dead letters, relay)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, NamedTuple

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from kauppa.servicekit.settings import KafkaSettings


class ProducerRecord(NamedTuple):
    """A record to produce (a named tuple: immutable, and cheap to make by the thousand)."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]

    def as_tuple(self) -> tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]:
        return self.topic, self.key, self.value, self.headers


def kafka_security(settings: KafkaSettings) -> dict[str, Any]:
    options: dict[str, Any] = {"security_protocol": settings.security_protocol}
    if settings.sasl_mechanism:
        options.update(
            sasl_mechanism=settings.sasl_mechanism,
            sasl_plain_username=settings.sasl_username,
            sasl_plain_password=settings.sasl_password,
        )
    return options


class EventProducer:
    """Publishes records in batches: every send is started, then all are awaited, so one
    round of requests carries the whole batch."""

    def __init__(self, settings: KafkaSettings, client_id: str) -> None:
        self.settings, self.client_id = settings, client_id
        self._producer: AIOKafkaProducer | None = None
        self._started = False
        self._partitioner = DefaultPartitioner()

    async def start(self) -> None:
        settings, client_id = self.settings, self.client_id
        self._producer = AIOKafkaProducer(
            bootstrap_servers=settings.bootstrap_servers,
            client_id=client_id,
            acks="all" if settings.enable_idempotence else _acks(settings.acks),
            enable_idempotence=settings.enable_idempotence,
            linger_ms=settings.linger_ms,
            max_batch_size=256 * 1024,
            request_timeout_ms=15_000,
            **kafka_security(settings),
        )
        await self._producer.start()
        self._started = True

    async def stop(self) -> None:
        if self._started and self._producer is not None:
            self._started = False
            await self._producer.stop()

    async def send_all(self, records: Sequence[ProducerRecord]) -> None:
        """Send every record and wait until the broker has acknowledged all of them.

        Records are partitioned as the producer itself would (murmur2 of the key, the
        Java client's rule) and appended to one record batch per partition, in order;
        each batch is handed to the producer whole. This costs a fraction of a
        ``send()`` per record, which builds a future and takes locks for each one."""
        if not records:
            return
        producer = self._producer
        if producer is None:
            raise RuntimeError("producer not started")
        by_partition: dict[tuple[str, int], list[ProducerRecord]] = {}
        partitions: dict[str, list[int]] = {}
        for r in records:
            parts = partitions.get(r.topic)
            if parts is None:
                parts = partitions[r.topic] = sorted(await producer.partitions_for(r.topic))
            p = self._partitioner(r.key, parts, parts)
            group = by_partition.get((r.topic, p))
            if group is None:
                group = by_partition[(r.topic, p)] = []
            group.append(r)
        futures = []
        for (topic, partition), group in by_partition.items():
            batch = producer.create_batch()
            for r in group:
                if batch.append(key=r.key, value=r.value, timestamp=None, headers=r.headers):
                    continue
                futures.append(await producer.send_batch(batch, topic, partition=partition))
                batch = producer.create_batch()
                if not batch.append(key=r.key, value=r.value, timestamp=None, headers=r.headers):
                    raise ValueError(f"record for {topic} larger than the producer's batch size")
            futures.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*futures)

    async def check(self, timeout: float = 3.0) -> None:
        """Raise unless the broker answers a metadata request."""
        if self._producer is None:
            raise RuntimeError("producer not started")
        await asyncio.wait_for(self._producer.client.fetch_all_metadata(), timeout)


def _acks(value: str) -> int | str:
    return "all" if value == "all" else int(value)
