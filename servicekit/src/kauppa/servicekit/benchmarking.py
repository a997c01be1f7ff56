"""Benchmarks measured against a baseline in the same run.

The baseline is a raw aiokafka consume -> produce pipe on the same broker. A scenario
runs a real service runtime on the same broker and database over the same number of
events. Throughput is measured identically for both: N outputs divided by the time from
the first to the last output seen by a reader (so consumer-group joins do not count).
Latency: inputs offered at a fixed rate; per event, the output's arrival minus the
input's send time, matched through the CloudEvents causation id.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kauppa.contracts import Envelope, to_kafka
from kauppa.contracts.cloudevents import header_map
from kauppa.contracts.topics import Topic
from kauppa.servicekit.kafka_admin import create_topics
from kauppa.servicekit.runtime import ServiceRuntime
from kauppa.servicekit.settings import KafkaSettings, MongoSettings


@dataclass
class Scenario:
    """A service path to benchmark.

    ``build_runtime(overrides)`` returns a runtime of the service built from its settings
    class with ``overrides`` (database, consumer_group, kafka, mongo) applied.
    ``make_inputs(n)`` returns n input envelopes; ``output_type`` is the type name of the
    event counted as that input's result; ``prepare`` seeds state (e.g. a seller roster).
    """

    name: str
    build_runtime: Callable[[dict[str, Any]], ServiceRuntime]
    make_inputs: Callable[[int], list[Envelope]]
    output_type: str
    output_topic: str
    prepare: Callable[[ServiceRuntime], Awaitable[None]] | None = None
    extra: Callable[[ServiceRuntime], Awaitable[dict[str, Any]]] | None = None


@dataclass
class Measurement:
    name: str
    events: int
    seconds: float
    latency_ms: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


class OutputCounter:
    """Reads a topic from its current end; records arrival time per output type."""

    def __init__(self, bootstrap: str, topic: str, output_type: str | None) -> None:
        self.bootstrap, self.topic, self.output_type = bootstrap, topic, output_type
        self.arrivals: list[float] = []
        self.by_cause: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        from aiokafka import TopicPartition

        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            fetch_max_wait_ms=10,
            max_poll_records=5000,
        )
        await consumer.start()
        parts = consumer.partitions_for_topic(self.topic)
        while not parts:
            await consumer.topics()
            parts = consumer.partitions_for_topic(self.topic)
        tps = [TopicPartition(self.topic, p) for p in parts]
        consumer.assign(tps)
        await consumer.seek_to_end(*tps)
        for tp in tps:
            await consumer.position(tp)
        self._consumer = consumer
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        assert self._consumer is not None
        wanted = self.output_type
        while True:
            batch = await self._consumer.getmany(timeout_ms=50, max_records=5000)
            now = time.perf_counter()
            for messages in batch.values():
                for m in messages:
                    h = header_map(m.headers)
                    ce_type = h.get("ce_type", "")
                    if wanted and f".{wanted}." not in ce_type:
                        continue
                    self.arrivals.append(now)
                    cause = h.get("ce_causationid") or h.get("bench_cause")
                    if cause:
                        self.by_cause[cause] = now

    async def wait(self, n: int, timeout: float) -> None:
        deadline = time.perf_counter() + timeout
        while len(self.arrivals) < n:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"only {len(self.arrivals)} of {n} outputs in {timeout}s")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer:
            await self._consumer.stop()


async def produce(
    bootstrap: str,
    envelopes: list[Envelope],
    rate: float | None = None,
    topic_override: str | None = None,
) -> dict[str, float]:
    """Send the inputs (as fast as possible, or at ``rate`` per second). Returns the
    send time of each input id."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=False,
        linger_ms=5,
        max_batch_size=512 * 1024,
    )
    await producer.start()
    sent: dict[str, float] = {}
    try:
        if rate is None:
            futures = []
            for env in envelopes:
                topic, key, value, headers = to_kafka(env)
                topic = topic_override or topic
                futures.append(await producer.send(topic, value=value, key=key, headers=headers))
            await asyncio.gather(*futures)
        else:
            start = time.perf_counter()
            for i, env in enumerate(envelopes):
                target = start + i / rate
                delay = target - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                topic, key, value, headers = to_kafka(env)
                topic = topic_override or topic
                sent[env.id] = time.perf_counter()
                await producer.send(topic, value=value, key=key, headers=headers)
            await producer.flush()
    finally:
        await producer.stop()
    return sent


def latency_summary(sent: dict[str, float], arrived: dict[str, float]) -> dict[str, float]:
    samples = sorted((arrived[i] - t) * 1000 for i, t in sent.items() if i in arrived)
    if not samples:
        return {}
    q = statistics.quantiles(samples, n=100, method="inclusive") if len(samples) > 1 else samples
    return {
        "p50": round(statistics.median(samples), 2),
        "p99": round(q[98] if len(q) >= 99 else samples[-1], 2),
        "n": len(samples),
    }


# ---------------------------------------------------------------------------- raw pipe


class RawPipe:
    """The ceiling: consume a batch, produce every record to the output, commit. No
    decoding, no database."""

    def __init__(self, kafka: KafkaSettings, source: str, target: str) -> None:
        self.kafka, self.source, self.target = kafka, source, target
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        from kauppa.servicekit.consumer import consumer_options

        self.consumer = AIOKafkaConsumer(
            self.source,
            group_id=f"bench-raw-{uuid.uuid4().hex[:6]}",
            **consumer_options(self.kafka),
        )
        self.producer = AIOKafkaProducer(
            bootstrap_servers=self.kafka.bootstrap_servers,
            enable_idempotence=False,
            linger_ms=self.kafka.linger_ms,
            max_batch_size=256 * 1024,
        )
        await self.consumer.start()
        await self.producer.start()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while not self._stop.is_set():
            batch = await self.consumer.getmany(
                timeout_ms=100, max_records=self.kafka.max_batch_records
            )
            futures = []
            for messages in batch.values():
                for m in messages:
                    h = [*list(m.headers), ("bench_cause", header_map(m.headers)["ce_id"].encode())]
                    futures.append(
                        await self.producer.send(self.target, value=m.value, key=m.key, headers=h)
                    )
            if futures:
                await asyncio.gather(*futures)
                await self.consumer.commit()

    async def stop(self) -> None:
        self._stop.set()
        if self._task:
            await asyncio.wait([self._task], timeout=5)
            self._task.cancel()
        await self.consumer.stop()
        await self.producer.stop()


async def throughput(
    bootstrap: str,
    start: Callable[[], Awaitable[None]],
    stop: Callable[[], Awaitable[None]],
    inputs: list[Envelope],
    output_topic: str,
    output_type: str | None,
    timeout: float = 600,
    input_topic: str | None = None,
) -> float:
    """Seconds from the first to the last of len(inputs) outputs."""
    counter = OutputCounter(bootstrap, output_topic, output_type)
    await counter.start()
    await start()
    try:
        await produce(bootstrap, inputs, topic_override=input_topic)
        await counter.wait(len(inputs), timeout)
    finally:
        await stop()
        await counter.stop()
    return counter.arrivals[len(inputs) - 1] - counter.arrivals[0]


async def latency(
    bootstrap: str,
    start: Callable[[], Awaitable[None]],
    stop: Callable[[], Awaitable[None]],
    inputs: list[Envelope],
    output_topic: str,
    output_type: str | None,
    rate: float,
    input_topic: str | None = None,
) -> dict[str, float]:
    counter = OutputCounter(bootstrap, output_topic, output_type)
    await counter.start()
    await start()
    try:
        await asyncio.sleep(0.5)
        sent = await produce(bootstrap, inputs, rate=rate, topic_override=input_topic)
        await counter.wait(len(inputs), 120)
    finally:
        await stop()
        await counter.stop()
    return latency_summary(sent, counter.by_cause)


async def ensure_bench_topics(bootstrap: str, *names: str, partitions: int = 3) -> None:
    await create_topics(bootstrap, [Topic(n, "key", partitions=partitions) for n in names])


async def run_scenario(
    scenario: Scenario,
    kafka: KafkaSettings,
    mongo: MongoSettings,
    n: int,
    *,
    latency_events: int = 0,
    rate: float = 1000.0,
) -> Measurement:
    """Throughput over n inputs, then (optionally) latency at ``rate`` per second."""
    tag = uuid.uuid4().hex[:6]

    def overrides(suffix: str) -> dict[str, Any]:
        return {
            "database": f"bench_{tag}_{suffix}",
            "consumer_group": f"bench-{tag}-{suffix}",
            "kafka": kafka,
            "mongo": mongo,
            "log_level": "WARNING",
        }

    runtime = scenario.build_runtime(overrides("tp"))
    extra: dict[str, Any] = {}

    async def start() -> None:
        await runtime.start()
        if scenario.prepare:
            await scenario.prepare(runtime)
        await _wait_assigned(runtime)

    async def stop() -> None:
        if scenario.extra:
            extra.update(await scenario.extra(runtime))
        await runtime.stop()
        from pymongo import AsyncMongoClient

        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo.uri)
        await client.drop_database(runtime.settings.database)
        await client.close()

    seconds = await throughput(
        kafka.bootstrap_servers,
        start,
        stop,
        scenario.make_inputs(n),
        scenario.output_topic,
        scenario.output_type,
    )
    result = Measurement(scenario.name, n, seconds, extra=extra)
    if latency_events:
        runtime = scenario.build_runtime(overrides("lat"))
        result.latency_ms = await latency(
            kafka.bootstrap_servers,
            start,
            stop,
            scenario.make_inputs(latency_events),
            scenario.output_topic,
            scenario.output_type,
            rate,
        )
    return result


async def _wait_assigned(runtime: ServiceRuntime, timeout: float = 30) -> None:
    """Until the consumer group has given this runtime its partitions."""
    consumer = runtime.consumer
    if consumer is None or consumer._consumer is None:
        return
    deadline = time.perf_counter() + timeout
    while not consumer._consumer.assignment():
        if time.perf_counter() > deadline:
            raise TimeoutError("consumer got no partitions")
        await asyncio.sleep(0.05)
    for tp in consumer._consumer.assignment():
        await consumer._consumer.position(tp)  # resolves 'latest' before inputs arrive
