"""Following topics without a consumer group: every partition assigned, read from the end
(what arrives from now on) or from the beginning, records handed to ``take`` in the
background, connected as the service connects (its Kafka settings, security included).
The dead-letter reader, the demo's event feed, the tests' topic reader and the
benchmark's output counter are built on it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, Self

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from kauppa.servicekit.kafka_admin import assign_all_partitions
from kauppa.servicekit.producer import kafka_security
from kauppa.servicekit.settings import KafkaSettings


async def open_groupless_consumer(
    kafka: KafkaSettings | str,
    topics: Sequence[str],
    *,
    from_end: bool,
    wait: float,
    fetch_max_wait_ms: int | None = None,
    max_records: int | None = None,
) -> AIOKafkaConsumer:
    """A started consumer without a group, every partition of ``topics`` assigned and
    positioned (see ``assign_all_partitions``; ``LookupError`` for a missing topic, with
    the consumer stopped). ``kafka`` is the service's settings (address, security, fetch
    wait) or just a broker address for a plaintext one."""
    settings = (
        KafkaSettings.model_construct(bootstrap_servers=kafka) if isinstance(kafka, str) else kafka
    )
    options: dict[str, Any] = kafka_security(settings)
    if max_records:
        options["max_poll_records"] = max_records
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        enable_auto_commit=False,
        fetch_max_wait_ms=fetch_max_wait_ms or settings.fetch_max_wait_ms,
        **options,
    )
    try:
        await consumer.start()
        await assign_all_partitions(consumer, topics, from_end=from_end, wait=wait)
    except BaseException:
        await consumer.stop()
        raise
    return consumer


class TopicTail:
    """Subclasses say what to keep in ``take``. ``kafka`` is the settings to connect with
    (their security options apply) or a plaintext broker's address. ``start`` raises
    ``LookupError`` naming a topic that does not exist (after waiting ``metadata_wait``
    seconds for fresh metadata)."""

    def __init__(
        self,
        kafka: KafkaSettings | str,
        topics: Sequence[str],
        *,
        from_end: bool = True,
        metadata_wait: float = 5.0,
        fetch_max_wait_ms: int = 10,
        poll_ms: int = 100,
        max_records: int | None = None,
    ) -> None:
        self.kafka, self.topics = kafka, list(topics)
        self.from_end, self.metadata_wait = from_end, metadata_wait
        self.fetch_max_wait_ms, self.poll_ms = fetch_max_wait_ms, poll_ms
        self.max_records = max_records
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    def take(self, records: list[ConsumerRecord[Any, Any]], arrived: float) -> None:
        """One partition's records of a fetch; ``arrived`` is ``time.perf_counter()`` when
        the fetch returned."""
        raise NotImplementedError

    async def start(self) -> Self:
        self._consumer = await open_groupless_consumer(
            self.kafka,
            self.topics,
            from_end=self.from_end,
            wait=self.metadata_wait,
            fetch_max_wait_ms=self.fetch_max_wait_ms,
            max_records=self.max_records,
        )
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(
                timeout_ms=self.poll_ms, max_records=self.max_records
            )
            arrived = time.perf_counter()
            for records in batch.values():
                self.take(records, arrived)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer:
            await self._consumer.stop()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
