"""Dead letters: records a service cannot use go aside, whole, with the reason.

The dead-letter record keeps the original key, value and headers byte for byte and adds
``dlq_*`` headers (reason, origin topic/partition/offset, service, time). ``replay``
re-publishes chosen dead letters to their origin topic, original bytes and headers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, NamedTuple

from kauppa.contracts.cloudevents import header_map
from kauppa.contracts.topics import dead_letter_topic
from kauppa.servicekit.ids import is_safe_id
from kauppa.servicekit.producer import EventProducer, ProducerRecord
from kauppa.servicekit.settings import KafkaSettings
from kauppa.servicekit.tail import open_groupless_consumer

DLQ_PREFIX = "dlq_"


class RawRecord(NamedTuple):
    """A consumed Kafka record, before decoding (a named tuple: immutable, and cheap to
    make by the thousand)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    timestamp_ms: int = 0

    @classmethod
    def of(cls, record: Any) -> RawRecord:
        """From an aiokafka ``ConsumerRecord``."""
        return cls(
            record.topic,
            record.partition,
            record.offset,
            record.key,
            record.value,
            list(record.headers or ()),
            record.timestamp,
        )


@dataclass(frozen=True)
class DeadLetter:
    record: RawRecord  # the dead-letter record itself (topic = the DLQ)
    reason_kind: str
    reason: str
    origin_topic: str
    origin_partition: int
    origin_offset: int
    service: str
    dead_lettered_at: str

    @property
    def ce_type(self) -> str | None:
        return header_map(self.record.headers).get("ce_type")

    @property
    def ce_id(self) -> str | None:
        return header_map(self.record.headers).get("ce_id")

    @cached_property
    def body_fields(self) -> dict[str, Any]:
        """The top-level fields of the record's JSON body (the event, in CloudEvents'
        binary mode; ``data`` in structured mode); empty when the body is not a JSON
        object (what was undecodable stays so)."""
        try:
            doc = json.loads(self.record.value or b"")
        except (ValueError, UnicodeDecodeError):
            return {}
        if isinstance(doc, dict) and isinstance(doc.get("data"), dict) and "specversion" in doc:
            doc = doc["data"]
        return doc if isinstance(doc, dict) else {}

    @property
    def organisation_id(self) -> str | None:
        """The organisation the dead letter belongs to, read from the event body
        (``organisation_id``, or the ``kauppaorg`` header); None when it cannot be read
        (then only platform admins see the letter)."""
        org = self.body_fields.get("organisation_id") or header_map(self.record.headers).get(
            "kauppaorg"
        )
        return org if is_safe_id(org) else None

    @property
    def customer_id(self) -> str | None:
        customer = self.body_fields.get("customer_id")
        return customer if isinstance(customer, str) and customer else None

    def summary(self) -> dict[str, Any]:
        return {
            "offset": self.record.offset,
            "partition": self.record.partition,
            "reason_kind": self.reason_kind,
            "reason": self.reason,
            "origin": f"{self.origin_topic}/{self.origin_partition}@{self.origin_offset}",
            "ce_type": self.ce_type,
            "ce_id": self.ce_id,
            "dead_lettered_at": self.dead_lettered_at,
            "size": len(self.record.value or b""),
            "organisation_id": self.organisation_id,
        }


def dead_letter_record(
    service: str, raw: RawRecord, reason_kind: str, reason: str
) -> ProducerRecord:
    headers = [(k, v) for k, v in raw.headers if not k.startswith(DLQ_PREFIX)]
    headers += [
        ("dlq_reason_kind", reason_kind.encode()),
        ("dlq_reason", reason[:4000].encode()),
        ("dlq_origin_topic", raw.topic.encode()),
        ("dlq_origin_partition", str(raw.partition).encode()),
        ("dlq_origin_offset", str(raw.offset).encode()),
        ("dlq_service", service.encode()),
        ("dlq_at", datetime.now(UTC).isoformat().encode()),
    ]
    return ProducerRecord(dead_letter_topic(service).name, raw.key, raw.value, headers)


def parse_dead_letter(raw: RawRecord) -> DeadLetter:
    h = header_map(raw.headers)
    return DeadLetter(
        record=raw,
        reason_kind=h.get("dlq_reason_kind", "?"),
        reason=h.get("dlq_reason", ""),
        origin_topic=h.get("dlq_origin_topic", ""),
        origin_partition=int(h.get("dlq_origin_partition", "-1")),
        origin_offset=int(h.get("dlq_origin_offset", "-1")),
        service=h.get("dlq_service", ""),
        dead_lettered_at=h.get("dlq_at", ""),
    )


async def read_dead_letters(
    settings: KafkaSettings, service: str, *, timeout: float = 5.0
) -> list[DeadLetter]:
    """Every dead letter currently in the service's dead-letter topic (no consumer group)."""
    topic = dead_letter_topic(service).name
    try:
        # No dead-letter topic yet means no dead letters: do not wait for one.
        consumer = await open_groupless_consumer(settings, [topic], from_end=False, wait=0)
    except LookupError:
        return []
    try:
        # Read until the topic goes quiet. (End offsets would be neater, but Tansu
        # reports them per stored batch, not per record.)
        out: list[DeadLetter] = []
        loop = asyncio.get_running_loop()
        deadline, quiet = loop.time() + timeout, 0
        while quiet < 2 and loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=250)
            quiet = 0 if batch else quiet + 1
            for messages in batch.values():
                for m in messages:
                    out.append(parse_dead_letter(RawRecord.of(m)))
        return sorted(out, key=lambda d: (d.record.partition, d.record.offset))
    finally:
        await consumer.stop()


async def replay(
    settings: KafkaSettings,
    service: str,
    select: Callable[[DeadLetter], bool] = lambda _d: True,
    *,
    producer: EventProducer | None = None,
) -> list[DeadLetter]:
    """Re-publish the chosen dead letters to their origin topics, original bytes and
    headers, plus ``replayed_from`` naming the dead letter. Returns what was replayed."""
    chosen = [d for d in await read_dead_letters(settings, service) if select(d)]
    if not chosen:
        return []
    own = producer is None
    prod = producer or EventProducer(settings, client_id=f"kauppa-dlq-replay-{service}")
    if own:
        await prod.start()
    try:
        await republish(prod, chosen)
    finally:
        if own:
            await prod.stop()
    return chosen


async def republish(producer: EventProducer, letters: Sequence[DeadLetter]) -> None:
    """Send dead letters already read back to their origin topics: original bytes and
    headers, plus ``replayed_from`` naming the dead letter."""
    await producer.send_all(
        [
            ProducerRecord(
                d.origin_topic,
                d.record.key,
                d.record.value,
                [(k, v) for k, v in d.record.headers if not k.startswith(DLQ_PREFIX)]
                + [
                    (
                        "replayed_from",
                        f"{d.record.topic}/{d.record.partition}@{d.record.offset}".encode(),
                    )
                ],
            )
            for d in letters
        ]
    )
