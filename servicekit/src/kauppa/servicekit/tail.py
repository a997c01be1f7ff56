"""Following topics without a consumer group: every partition assigned, read from the end
(what arrives from now on) or from the beginning, records handed to ``take`` in the
background. The demo's event feed, the tests' topic reader and the benchmark's output
counter are built on it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, Self

from aiokafka import AIOKafkaConsumer, ConsumerRecord
from kauppa.servicekit.kafka_admin import assign_all_partitions


class TopicTail:
    """Subclasses say what to keep in ``take``. ``start`` raises ``LookupError`` naming a
    topic that does not exist (after waiting ``metadata_wait`` seconds for fresh metadata)."""

    def __init__(
        self,
        bootstrap: str,
        topics: Sequence[str],
        *,
        from_end: bool = True,
        metadata_wait: float = 5.0,
        fetch_max_wait_ms: int = 10,
        poll_ms: int = 100,
        max_records: int | None = None,
    ) -> None:
        self.bootstrap, self.topics = bootstrap, list(topics)
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
        options: dict[str, Any] = {"max_poll_records": self.max_records} if self.max_records else {}
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            fetch_max_wait_ms=self.fetch_max_wait_ms,
            **options,
        )
        await consumer.start()
        try:
            await assign_all_partitions(
                consumer, self.topics, from_end=self.from_end, wait=self.metadata_wait
            )
        except LookupError:
            await consumer.stop()
            raise
        self._consumer = consumer
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
