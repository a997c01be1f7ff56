"""Publish to and read from the test broker."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, Self

from aiokafka import AIOKafkaProducer, ConsumerRecord
from kauppa.contracts import DecodeError, Envelope, from_kafka, to_kafka
from kauppa.servicekit.deadletters import RawRecord
from kauppa.servicekit.settings import KafkaSettings
from kauppa.servicekit.tail import TopicTail


async def publish_raw(
    bootstrap: str,
    records: Sequence[tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]],
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, linger_ms=2)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value=value, key=key, headers=headers)
            for topic, key, value, headers in records
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def publish_envelopes(bootstrap: str, envelopes: Sequence[Envelope]) -> None:
    await publish_raw(bootstrap, [to_kafka(e) for e in envelopes])


class TopicReader(TopicTail):
    """Reads topics from their end at ``start()`` (or the beginning), collecting records;
    tests wait for what they expect with ``wait_for``."""

    def __init__(
        self, kafka: KafkaSettings | str, *topics: str, from_beginning: bool = False
    ) -> None:
        super().__init__(kafka, topics, from_end=not from_beginning)
        self.records: list[RawRecord] = []

    def take(self, records: list[ConsumerRecord[Any, Any]], arrived: float) -> None:
        self.records.extend(RawRecord.of(m) for m in records)

    async def start(self) -> Self:
        try:
            return await super().start()
        except LookupError as exc:
            raise AssertionError(str(exc)) from exc

    def envelopes(self, type_name: str | None = None) -> list[Envelope]:
        out = []
        for r in self.records:
            try:
                env = from_kafka(r.headers, r.value)
            except DecodeError:
                continue
            if type_name is None or env.event.type_name == type_name:
                out.append(env)
        return out

    def events(self, type_name: str | None = None, **match: Any) -> list[Any]:
        return [
            e.event
            for e in self.envelopes(type_name)
            if all(getattr(e.event, k, None) == v for k, v in match.items())
        ]

    async def wait_for(
        self,
        condition: Callable[[TopicReader], bool],
        timeout: float = 20.0,
        what: str = "condition",
    ) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition(self):
            if loop.time() > deadline:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {what}; have {len(self.records)} "
                    f"records: {[e.event.type_name for e in self.envelopes()][-20:]}"
                )
            await asyncio.sleep(0.02)

    async def wait_for_events(
        self, type_name: str, count: int = 1, timeout: float = 20.0, **match: Any
    ) -> list[Any]:
        await self.wait_for(
            lambda r: len(r.events(type_name, **match)) >= count,
            timeout,
            f"{count} x {type_name} {match or ''}",
        )
        return self.events(type_name, **match)
