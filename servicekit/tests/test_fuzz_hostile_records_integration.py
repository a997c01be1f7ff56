"""Fuzz: hostile records from a foreign producer, interleaved with good ones, through the
real pipeline on the real broker and mongod.

Hypothesis draws batches of records (``hostile.py``): good leads, and bad records of many
kinds. A foreign client (librdkafka, through confluent-kafka) produces each batch with a
drawn compression codec. The kit's minimal service consumes them. Invariants:

- every good event is handled exactly once (its effect counted once, one answer event);
- every bad record is dead-lettered with a reason, and no good one is;
- the committed offset never passes a record that was neither handled nor dead-lettered
  (sampled while the batch is consumed);
- readiness tells the truth: ready once everything is through.

``make test`` runs a bounded number of small batches; ``make fuzz`` (``KAUPPA_FUZZ=large``)
runs many large ones and prints what it sent, handled and dead-lettered per kind.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, TopicPartition
from confluent_kafka import Producer
from hypothesis import HealthCheck, Phase, given, settings
from kauppa.contracts.topics import Topic, dead_letter_topic
from kauppa.devkit.testing import TopicReader
from kauppa.servicekit.deadletters import parse_dead_letter
from kauppa.servicekit.kafka_admin import create_topics
from kauppa.servicekit.runtime import ServiceRuntime
from kauppa.servicekit.settings import KafkaSettings, MongoSettings, ServiceSettings

from .hostile import (
    BAD_KINDS,
    GOOD_KINDS,
    HostileRecord,
    RecordSpec,
    every_kind_batch,
    hostile_batch,
    materialise_all,
)
from .tally_service import TIMER_HANDLERS, handlers

pytestmark = pytest.mark.integration

LARGE = os.environ.get("KAUPPA_FUZZ") == "large"
EXAMPLES = int(os.environ.get("KAUPPA_FUZZ_EXAMPLES", 40 if LARGE else 4))
MIN_RECORDS, MAX_RECORDS = (50, 400) if LARGE else (8, 30)
KEYS = tuple(f"fuzz-key-{n}".encode() for n in range(5))
SERVICE = "fuzz"
# A topic of the suite's own: what it leaves behind must not reach other tests' consumers.
TOPIC = f"kauppa.test.fuzz-{uuid.uuid4().hex[:8]}"

# What every example sent and what became of it, per kind (printed by ``make fuzz``).
TALLY: dict[str, Counter[str]] = defaultdict(Counter)


@pytest_asyncio.fixture(scope="module")
async def fuzz_runtime(
    kafka_settings: KafkaSettings, mongo_settings: MongoSettings
) -> AsyncIterator[ServiceRuntime]:
    tag = uuid.uuid4().hex[:8]
    await create_topics(kafka_settings.bootstrap_servers, [Topic(TOPIC, "lead_id", partitions=3)])
    rt = ServiceRuntime(
        ServiceSettings(
            service_name=SERVICE,
            database=f"t_fuzz_{tag}",
            consumer_group=f"t-fuzz-{tag}",
            kafka=kafka_settings,
            mongo=mongo_settings,
            log_format="console",
            log_level="ERROR",
            consume_topics=[TOPIC],
        ),
        handlers,
        timer_handlers=TIMER_HANDLERS,
    )
    await rt.start()
    yield rt
    await rt.stop()
    _report()


@pytest_asyncio.fixture(scope="module")
async def dead_letters(kafka_settings: KafkaSettings) -> AsyncIterator[TopicReader]:
    async with TopicReader(kafka_settings, dead_letter_topic(SERVICE).name) as reader:
        yield reader


def _produce(bootstrap: str, codec: str, records: list[HostileRecord]) -> list[tuple[int, int]]:
    """Produce with librdkafka, in order, with the codec; (partition, offset) per record."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "compression.type": codec,
            "linger.ms": 50,  # so records travel together in compressed batches
            "enable.idempotence": False,
            "message.max.bytes": 2_000_000,
        }
    )
    where: list[tuple[int, int] | None] = [None] * len(records)

    def delivered(i: int) -> Any:
        def report(err: Any, msg: Any) -> None:
            if err is not None:
                raise AssertionError(f"record {i} ({records[i].kind}) not produced: {err}")
            where[i] = (msg.partition(), msg.offset())

        return report

    for i, r in enumerate(records):
        producer.produce(
            TOPIC,
            value=r.value,
            key=r.key,
            headers=r.headers,
            on_delivery=delivered(i),
        )
        producer.poll(0)
    assert producer.flush(30) == 0, "librdkafka did not deliver everything"
    assert all(w is not None for w in where)
    return [w for w in where if w is not None]


class CommittedOffsets:
    """Reads a group's committed offsets from the broker, as an outsider (a consumer that
    names the group but never joins it; aiokafka's admin client cannot parse Tansu's
    answer to the same question)."""

    def __init__(self, bootstrap: str, group: str) -> None:
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
        )

    async def __aenter__(self) -> CommittedOffsets:
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    async def read(self, partitions: Iterable[int]) -> dict[int, int]:
        out = {}
        for p in partitions:
            offset = await self.consumer.committed(TopicPartition(TOPIC, p))
            out[p] = offset if offset is not None and offset >= 0 else 0
        return out


async def _run_example(
    rt: ServiceRuntime, dlq: TopicReader, codec: str, records: list[HostileRecord]
) -> None:
    bootstrap = rt.settings.kafka.bootstrap_servers
    where = await asyncio.to_thread(_produce, bootstrap, codec, records)
    ends: dict[int, int] = {}
    for partition, offset in where:
        ends[partition] = max(ends.get(partition, 0), offset + 1)

    # Sample the committed offsets while the batch goes through: whatever lies below a
    # committed offset must already be handled (good) or be dead-lettered (bad).
    violations: list[str] = []
    below_committed_bad: set[tuple[int, int]] = set()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + (120 if LARGE else 60)
    async with CommittedOffsets(bootstrap, rt.settings.consumer_group) as offsets:
        while True:
            committed = await offsets.read(ends)
            pending_good = []
            for r, (partition, offset) in zip(records, where, strict=True):
                if offset >= committed.get(partition, 0):
                    continue
                if r.good:
                    pending_good.append(r.lead_id)
                else:
                    below_committed_bad.add((partition, offset))
            if pending_good:
                found = {
                    d["_id"]
                    async for d in rt.db["tally"].find({"_id": {"$in": pending_good}}, {"_id": 1})
                }
                violations += [
                    f"offset committed past unhandled lead {lid}"
                    for lid in pending_good
                    if lid not in found
                ]
            if all(committed.get(p, 0) >= end for p, end in ends.items()):
                break
            if loop.time() > deadline:
                raise AssertionError(
                    f"not consumed in time: committed {committed}, ends {ends}; "
                    f"readiness {await rt.readiness()}"
                )
            await asyncio.sleep(0.05)
    assert not violations, violations[:5]

    # Every bad record dead-lettered with a reason; no good record dead-lettered.
    wanted = {(p, o) for r, (p, o) in zip(records, where, strict=True) if not r.good}
    assert below_committed_bad <= wanted

    def letters() -> dict[tuple[int, int], Any]:
        out = {}
        for raw in dlq.records:
            letter = parse_dead_letter(raw)
            if letter.origin_topic == TOPIC:
                out[(letter.origin_partition, letter.origin_offset)] = letter
        return out

    try:
        await dlq.wait_for(lambda _r: wanted <= set(letters()), timeout=20)
    except AssertionError:
        missing = [
            (r.kind, p, o)
            for r, (p, o) in zip(records, where, strict=True)
            if (p, o) in wanted - set(letters())
        ]
        raise AssertionError(
            f"{codec}: {len(missing)} of {len(wanted)} bad records not dead-lettered: "
            f"{missing[:10]}; dead letters seen from {sorted(letters())[-10:]}"
        ) from None
    got = letters()
    for r, (p, o) in zip(records, where, strict=True):
        TALLY[r.kind]["sent"] += 1
        if r.good:
            assert (p, o) not in got, f"good record dead-lettered: {got[(p, o)].reason}"
        else:
            letter = got[(p, o)]
            assert letter.reason and letter.reason_kind != "?", (r.kind, letter)
            TALLY[r.kind]["dead-lettered"] += 1
            TALLY[r.kind][f"reason:{letter.reason_kind}"] += 1

    # Every good lead handled exactly once, however often it was sent.
    good_ids = {r.lead_id for r in records if r.good}
    counts = {d["_id"]: d["n"] async for d in rt.db["tally"].find({"_id": {"$in": list(good_ids)}})}
    assert counts == dict.fromkeys(good_ids, 1)
    for kind in GOOD_KINDS:
        TALLY[kind]["handled"] += len({r.lead_id for r in records if r.kind == kind})

    readiness = await rt.readiness()
    assert all(v == "ok" for v in readiness.values()), readiness


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    # No shrinking: every example costs a round trip through broker and database, and
    # the failing batch is reported whole (kinds and parameters) anyway.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    derandomize=not LARGE,  # make test: the same examples every run; make fuzz: new ones
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(batch=hostile_batch(min_records=MIN_RECORDS, max_records=MAX_RECORDS, key_choices=KEYS))
async def test_hostile_records_never_take_good_ones_down(
    fuzz_runtime: ServiceRuntime, dead_letters: TopicReader, batch: tuple[str, list[RecordSpec]]
) -> None:
    codec, specs = batch
    records = materialise_all(specs)
    await _run_example(fuzz_runtime, dead_letters, codec, records)


@settings(
    max_examples=1,
    deadline=None,
    # No shrinking: every example costs a round trip through broker and database, and
    # the failing batch is reported whole (kinds and parameters) anyway.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(batch=every_kind_batch(KEYS))
async def test_one_record_of_every_kind_in_one_compressed_batch(
    fuzz_runtime: ServiceRuntime, dead_letters: TopicReader, batch: tuple[str, list[RecordSpec]]
) -> None:
    codec, specs = batch
    records = materialise_all(specs)
    assert {r.kind for r in records} == {*GOOD_KINDS, *BAD_KINDS}
    await _run_example(fuzz_runtime, dead_letters, codec, records)


def _report() -> None:
    if not TALLY:
        return
    lines = [f"{'kind':<24}{'sent':>8}{'handled':>9}{'dead-lettered':>15}  reasons"]
    for kind in (*GOOD_KINDS, *BAD_KINDS):
        c = TALLY.get(kind)
        if not c:
            continue
        reasons = ", ".join(f"{k[7:]} {v}" for k, v in sorted(c.items()) if k.startswith("reason:"))
        lines.append(
            f"{kind:<24}{c['sent']:>8}{c['handled']:>9}{c['dead-lettered']:>15}  {reasons}"
        )
    text = "\n".join(lines)
    print("\nfuzz: records sent, handled and dead-lettered per kind\n" + text)
    out = Path(__file__).resolve().parents[2] / ".local" / "fuzz"
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps({k: dict(v) for k, v in TALLY.items()}, indent=1))
