"""Batch consumption from Kafka: fetch a batch across the assigned partitions, hand it to
the pipeline, commit the offsets only after the pipeline returned."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError
from kauppa.servicekit.deadletters import RawRecord
from kauppa.servicekit.logging import get_logger
from kauppa.servicekit.producer import kafka_security
from kauppa.servicekit.settings import KafkaSettings

log = get_logger(__name__)

BatchSink = Callable[[list[RawRecord]], Awaitable[object]]


def consumer_options(settings: KafkaSettings) -> dict[str, object]:
    """The consumer settings, the Tansu quirks included via the profile (see settings)."""
    return {
        "bootstrap_servers": settings.bootstrap_servers,
        "enable_auto_commit": False,
        "auto_offset_reset": settings.auto_offset_reset,
        "session_timeout_ms": settings.session_timeout_ms,
        "heartbeat_interval_ms": settings.heartbeat_interval_ms,
        "rebalance_timeout_ms": settings.rebalance_timeout_ms,
        "fetch_max_wait_ms": settings.fetch_max_wait_ms,
        "max_poll_records": settings.max_batch_records,
        "max_partition_fetch_bytes": 4 * 1024 * 1024,
        "isolation_level": "read_committed",
        **kafka_security(settings),
    }


class KafkaBatchConsumer:
    def __init__(
        self,
        settings: KafkaSettings,
        group_id: str,
        topics: Sequence[str],
        sink: BatchSink,
        client_id: str,
    ) -> None:
        self.settings, self.group_id, self.topics = settings, group_id, list(topics)
        self.sink, self.client_id = sink, client_id
        self._consumer: AIOKafkaConsumer | None = None
        self._positions: dict[TopicPartition, int] = {}

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            *self.topics,
            group_id=self.group_id,
            client_id=self.client_id,
            **consumer_options(self.settings),
        )
        await self._consumer.start()

    async def stop(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            await consumer.stop()

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop``: fetch, process, commit. The batch in hand is always finished
        and committed before returning (graceful shutdown)."""
        assert self._consumer is not None, "start() first"
        consumer = self._consumer
        while not stop.is_set():
            fetched = await consumer.getmany(
                timeout_ms=200, max_records=self.settings.max_batch_records
            )
            if not fetched:
                continue
            records: list[RawRecord] = []
            offsets: dict[TopicPartition, int] = {}
            for tp, messages in fetched.items():
                for m in messages:
                    records.append(
                        RawRecord(
                            m.topic,
                            m.partition,
                            m.offset,
                            m.key,
                            m.value,
                            list(m.headers or ()),
                            m.timestamp,
                        )
                    )
                if messages:
                    offsets[tp] = messages[-1].offset + 1
            await self.sink(records)
            try:
                await consumer.commit(offsets)
                self._positions.update(offsets)
            except (CommitFailedError, IllegalStateError) as exc:
                # A rebalance took the partitions; the new owner re-reads the batch and
                # its inbox drops what this one already applied.
                log.warning("offset_commit_failed_rebalance", error=str(exc)[:200])

    def lag(self) -> dict[tuple[str, int], int]:
        """Records behind the end of each assigned partition, from the last fetch."""
        if self._consumer is None:
            return {}
        out: dict[tuple[str, int], int] = {}
        for tp in self._consumer.assignment():
            end = self._consumer.highwater(tp)
            done = self._positions.get(tp)
            if end is not None and done is not None:
                out[(tp.topic, tp.partition)] = max(end - done, 0)
        return out
