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
import atexit
import json
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord
from kauppa.contracts import Envelope, to_kafka
from kauppa.contracts.cloudevents import header_map
from kauppa.contracts.topics import Topic
from kauppa.servicekit.kafka_admin import create_topics, delete_topics
from kauppa.servicekit.producer import compression
from kauppa.servicekit.runtime import ServiceRuntime
from kauppa.servicekit.settings import KafkaSettings, MongoSettings
from kauppa.servicekit.tail import TopicTail

_helpers: dict[tuple[str, ...], int] = {}


def helper_process(*args: str, timeout: float = 30.0) -> int:
    """Start (once per ``args``) ``python -m ARGS`` on a free local port (``{port}`` in an
    argument stands for it) and wait until it accepts connections: an SMTP sink or a
    webhook receiver, in a process of its own as a real one would be. Returns the port;
    the process is stopped at exit."""
    if args in _helpers:
        return _helpers[args]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    argv = [a.format(port=port) for a in args]
    proc = subprocess.Popen([sys.executable, "-m", *argv], stdout=subprocess.DEVNULL)
    atexit.register(proc.terminate)
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"{argv[0]} exited with {proc.returncode}") from None
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    _helpers[args] = port
    return port


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


@dataclass
class Measurement:
    name: str
    events: int
    seconds: float
    latency_ms: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    cpu_seconds: float | None = None  # the system under test's own CPU time

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_us_per_event(self) -> float | None:
        """CPU time of the system under test per event (its process only: the broker's
        and mongod's work is not in it). Unlike the rate, it hardly moves when the
        machine is shared, so it tells code changes apart on a noisy host."""
        if self.cpu_seconds is None or not self.events:
            return None
        return self.cpu_seconds / self.events * 1e6


class OutputCounter(TopicTail):
    """Reads a topic from its current end; records arrival time per output type."""

    def __init__(self, bootstrap: str, topic: str, output_type: str | None) -> None:
        super().__init__(bootstrap, [topic], metadata_wait=30, poll_ms=50, max_records=5000)
        self.arrivals: list[float] = []
        self.by_cause: dict[str, float] = {}
        self._needle = f".{output_type}.".encode() if output_type else b""

    def take(self, records: list[ConsumerRecord[Any, Any]], arrived: float) -> None:
        needle = self._needle
        for m in records:
            # Cheap header scan: the harness shares the process with what it
            # measures, so it should cost as little as possible.
            cause = b""
            matched = not needle
            for name, value in m.headers:
                if name == "ce_type":
                    matched = matched or needle in value
                elif name in ("ce_causationid", "bench_cause"):
                    cause = value
            if not matched:
                continue
            self.arrivals.append(arrived)
            if cause:
                self.by_cause[cause.decode()] = arrived

    async def wait(self, n: int, timeout: float, stall: float = 60.0) -> None:
        """Until n outputs arrived; fails after ``timeout`` or ``stall`` seconds without
        a new output (a scenario that loses outputs should not hang the bench)."""
        started = last_change = time.perf_counter()
        seen = 0
        while len(self.arrivals) < n:
            now = time.perf_counter()
            if len(self.arrivals) != seen:
                seen, last_change = len(self.arrivals), now
            if now - started > timeout or now - last_change > stall:
                raise TimeoutError(f"only {len(self.arrivals)} of {n} outputs arrived")
            await asyncio.sleep(0.02)


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
            compression_type=compression(self.kafka),
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
    go: Callable[[], Awaitable[None]] | None = None,
) -> float:
    """Seconds from the first to the last of len(inputs) outputs. With ``go``, the system
    under test starts paused; all inputs are loaded first, then ``go`` releases it."""
    counter = OutputCounter(bootstrap, output_topic, output_type)
    await counter.start()
    await start()
    try:
        await produce(bootstrap, inputs, topic_override=input_topic)
        if go is not None:
            await go()
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
    go: Callable[[], Awaitable[None]] | None = None,
) -> dict[str, float]:
    counter = OutputCounter(bootstrap, output_topic, output_type)
    await counter.start()
    await start()
    try:
        if go is not None:
            await go()
        await asyncio.sleep(0.5)
        sent = await produce(bootstrap, inputs, rate=rate, topic_override=input_topic)
        await counter.wait(len(inputs), 120)
    finally:
        await stop()
        await counter.stop()
    return latency_summary(sent, counter.by_cause)


async def fresh_topics(bootstrap: str, names: set[str], partitions: int = 3) -> None:
    """Delete the named topics and create them again, empty, with their contract's
    partitions (``partitions`` for bench-only topics). Every measured run starts on
    empty topics: the embedded broker (Tansu, in memory) fetches more slowly from a
    topic holding an earlier run's records, which would make whichever ran later look
    slower."""
    from kauppa.contracts.topics import all_topics

    specs = {t.name: t for t in all_topics()}
    await delete_topics(bootstrap, names)
    await create_topics(
        bootstrap, [specs.get(n) or Topic(n, "key", partitions=partitions) for n in sorted(names)]
    )


# ----------------------------------------------------------- the system under test
#
# The service (or the raw pipe) runs in a child process of its own, as it would in
# production; the parent produces the inputs and reads the outputs. Sharing one
# interpreter would let the load generator steal the measured code's CPU.

RAW_SOURCE, RAW_TARGET = "bench.raw.in", "bench.raw.out"


class SystemUnderTest:
    """A child process running the raw pipe or a scenario's runtime."""

    def __init__(self, target: str, env: dict[str, str]) -> None:
        self.target, self.env = target, env
        self.proc: asyncio.subprocess.Process | None = None
        self.result: dict[str, Any] = {}

    async def start(self) -> None:
        import os
        import sys

        # BENCH_PROFILE=DIR: write a cProfile of each system under test there.
        profile_dir = os.environ.get("BENCH_PROFILE")
        profiling = (
            ["-m", "cProfile", "-o", f"{profile_dir}/{self.target.replace(':', '_')}.prof"]
            if profile_dir
            else []
        )
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *profiling,
            "-m",
            "kauppa.bench.harness",
            self.target,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env={**os.environ, **self.env},
        )
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), 120)
        if line.strip() != b"READY":
            await self.proc.wait()
            raise RuntimeError(f"system under test did not start ({self.target}): {line!r}")

    async def go(self) -> None:
        """Release the paused consumer (inputs are loaded)."""
        assert self.proc is not None and self.proc.stdin
        self.proc.stdin.write(b"GO\n")
        await self.proc.stdin.drain()

    async def stop(self) -> None:
        assert self.proc is not None and self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(b"STOP\n")
        await self.proc.stdin.drain()
        line = await asyncio.wait_for(self.proc.stdout.readline(), 120)
        if line.startswith(b"RESULT "):
            self.result = json.loads(line[7:])
        await asyncio.wait_for(self.proc.wait(), 60)


def _child_env(kafka: KafkaSettings, mongo: MongoSettings, tag: str) -> dict[str, str]:
    return {
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "KAUPPA_PROFILE": kafka.profile,
        "KAFKA_AUTO_OFFSET_RESET": "latest",
        "KAFKA_MAX_BATCH_RECORDS": str(kafka.max_batch_records),
        "MONGODB_URI": mongo.uri,
        "BENCH_TAG": tag,
    }


async def run_raw_pipe(
    kafka: KafkaSettings,
    mongo: MongoSettings,
    inputs: Callable[[int], list[Envelope]],
    n: int,
    *,
    latency_events: int = 0,
    rate: float = 1000.0,
) -> Measurement:
    await fresh_topics(kafka.bootstrap_servers, {RAW_SOURCE, RAW_TARGET})
    sut = SystemUnderTest("raw", _child_env(kafka, mongo, uuid.uuid4().hex[:6]))
    seconds = await throughput(
        kafka.bootstrap_servers,
        sut.start,
        sut.stop,
        inputs(n),
        RAW_TARGET,
        None,
        input_topic=RAW_SOURCE,
        go=sut.go,
    )
    result = Measurement(
        "raw aiokafka consume -> produce (baseline)",
        n,
        seconds,
        cpu_seconds=sut.result.get("cpu_seconds"),
    )
    if latency_events:
        await fresh_topics(kafka.bootstrap_servers, {RAW_SOURCE, RAW_TARGET})
        sut = SystemUnderTest("raw", _child_env(kafka, mongo, uuid.uuid4().hex[:6]))
        result.latency_ms = await latency(
            kafka.bootstrap_servers,
            sut.start,
            sut.stop,
            inputs(latency_events),
            RAW_TARGET,
            None,
            rate,
            input_topic=RAW_SOURCE,
            go=sut.go,
        )
    return result


class Replicas:
    """``n`` children of one scenario sharing a database and a consumer group, as a
    service scaled out in production: started, released and stopped together."""

    def __init__(self, target: str, env: dict[str, str], n: int) -> None:
        self.children = [
            SystemUnderTest(target, {**env, "BENCH_REPLICA": str(i)}) for i in range(n)
        ]
        self.result: dict[str, Any] = {}

    async def start(self) -> None:
        for child in self.children:  # one at a time: the first seeds the state
            await child.start()
        if len(self.children) > 1:
            await asyncio.sleep(REBALANCE_SETTLE)

    async def go(self) -> None:
        await asyncio.gather(*(c.go() for c in self.children))

    async def stop(self) -> None:
        # The first replica last: it drops the shared database when it has stopped.
        await asyncio.gather(*(c.stop() for c in self.children[1:]))
        await self.children[0].stop()
        results = [c.result for c in self.children]
        self.result = dict(results[0])
        if len(results) == 1:
            return
        for key in (
            "cpu_seconds",
            "seconds in pipeline (decode + transaction)",
            "transaction reruns",
            "batches",
        ):
            if all(key in r for r in results):
                self.result[key] = round(sum(r[key] for r in results), 3)
        consumed = [r.get("events consumed", 0) for r in results]
        if self.result.get("batches"):
            self.result["mean batch"] = round(sum(consumed) / self.result["batches"], 1)
        self.result["replicas"] = len(results)
        self.result["events consumed"] = consumed


# After the last replica joined, the group's rebalance must be over before inputs come.
REBALANCE_SETTLE = 3.0


async def run_scenario(
    module: str,
    index: int,
    kafka: KafkaSettings,
    mongo: MongoSettings,
    n: int,
    *,
    latency_events: int = 0,
    rate: float = 1000.0,
    replicas: int = 1,
) -> Measurement:
    """Throughput over n inputs, then (optionally) latency at ``rate`` per second, each
    against a fresh runtime (own database, own consumer group) in a child process, or
    ``replicas`` of them in one group."""
    import importlib

    scenario: Scenario = importlib.import_module(module).SCENARIOS[index]
    target = f"scenario:{module}:{index}"
    inputs = scenario.make_inputs(n)
    topics = {e.topic for e in inputs} | {scenario.output_topic}
    await fresh_topics(kafka.bootstrap_servers, topics)
    sut = Replicas(target, _child_env(kafka, mongo, uuid.uuid4().hex[:6]), replicas)
    seconds = await throughput(
        kafka.bootstrap_servers,
        sut.start,
        sut.stop,
        inputs,
        scenario.output_topic,
        scenario.output_type,
        go=sut.go,
    )
    cpu_seconds = sut.result.pop("cpu_seconds", None)
    result = Measurement(scenario.name, n, seconds, extra=sut.result, cpu_seconds=cpu_seconds)
    if latency_events:
        await fresh_topics(kafka.bootstrap_servers, topics)
        sut = Replicas(target, _child_env(kafka, mongo, uuid.uuid4().hex[:6]), replicas)
        result.latency_ms = await latency(
            kafka.bootstrap_servers,
            sut.start,
            sut.stop,
            scenario.make_inputs(latency_events),
            scenario.output_topic,
            scenario.output_type,
            rate,
            go=sut.go,
        )
    return result


async def _wait_assigned(consumer: AIOKafkaConsumer, timeout: float = 60) -> None:
    """Until the group has given this consumer partitions and their start positions
    ('latest') are resolved, so no input produced afterwards is skipped."""
    deadline = time.perf_counter() + timeout
    while not consumer.assignment():
        if time.perf_counter() > deadline:
            raise TimeoutError("consumer got no partitions")
        await asyncio.sleep(0.05)
    for tp in consumer.assignment():
        await consumer.position(tp)


async def _hold_paused(consumer: AIOKafkaConsumer) -> None:
    """Until cancelled (at GO): keep whatever partitions the group gives this consumer
    paused, their start positions resolved. A replica's partitions change while the
    others join, and a fresh assignment is not paused."""
    while True:
        tps = consumer.assignment()
        consumer.pause(*tps)
        for tp in tps:
            await consumer.position(tp)
        await asyncio.sleep(0.02)


async def _child(target: str) -> None:
    """The child's side: start, say READY, run until STOP, report, clean up."""
    import importlib
    import os
    import sys

    from kauppa.servicekit.logging import configure_logging

    configure_logging("bench", fmt="console", level="WARNING")  # stderr; stdout is ours
    kafka, mongo = KafkaSettings(), MongoSettings()
    tag = os.environ.get("BENCH_TAG", uuid.uuid4().hex[:6])
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    extra: dict[str, Any] = {}
    if target == "raw":
        pipe = RawPipe(kafka, RAW_SOURCE, RAW_TARGET)
        await pipe.start()
        await _wait_assigned(pipe.consumer)
        pipe.consumer.pause(*pipe.consumer.assignment())
        print("READY", flush=True)
        await reader.readline()  # GO
        cpu = time.process_time()
        pipe.consumer.resume(*pipe.consumer.assignment())
        await reader.readline()  # STOP
        extra["cpu_seconds"] = time.process_time() - cpu
        await pipe.stop()
    else:
        _, module, index = target.split(":")
        scenario: Scenario = importlib.import_module(module).SCENARIOS[int(index)]
        runtime = scenario.build_runtime(
            {
                "database": f"bench_{tag}",
                "consumer_group": f"bench-{tag}",
                "kafka": kafka,
                "mongo": mongo,
                "log_level": "WARNING",
            }
        )
        await runtime.start()
        first = os.environ.get("BENCH_REPLICA", "0") == "0"
        if scenario.prepare and first:
            await scenario.prepare(runtime)
        consumer = runtime.consumer._consumer if runtime.consumer is not None else None
        holding: asyncio.Task[None] | None = None
        if consumer is not None:
            await _wait_assigned(consumer)
            holding = asyncio.create_task(_hold_paused(consumer))
        print("READY", flush=True)
        await reader.readline()  # GO
        cpu = time.process_time()
        if consumer is not None and holding is not None:
            holding.cancel()
            await asyncio.gather(holding, return_exceptions=True)
            consumer.resume(*consumer.assignment())
        await reader.readline()  # STOP
        extra["cpu_seconds"] = time.process_time() - cpu
        for metric in runtime.metrics.batch_size.collect():
            values = {s.name: s.value for s in metric.samples if not s.labels.get("le")}
            count = values.get("kauppa_batch_size_count", 0)
            if count:
                extra["mean batch"] = round(values["kauppa_batch_size_sum"] / count, 1)
                extra["batches"] = int(count)
                extra["events consumed"] = int(values["kauppa_batch_size_sum"])
        reruns = runtime.metrics.transaction_reruns.labels(runtime.metrics.service)
        extra["transaction reruns"] = int(reruns._value.get())
        for metric in runtime.metrics.handler_seconds.collect():
            for sample in metric.samples:
                if sample.name == "kauppa_handler_seconds_sum":
                    extra["seconds in pipeline (decode + transaction)"] = round(sample.value, 2)
        await runtime.stop()
        if first:
            from pymongo import AsyncMongoClient

            client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo.uri)
            await client.drop_database(f"bench_{tag}")
            await client.close()
    print("RESULT " + json.dumps(extra, default=str), flush=True)


if __name__ == "__main__":
    import sys

    asyncio.run(_child(sys.argv[1]))
