"""Dead letters: records a service cannot use go aside, whole, with the reason.

The dead-letter record keeps the original key, value and headers byte for byte and adds
``dlq_*`` headers (reason, origin topic/partition/offset, service, time). ``replay``
re-publishes chosen dead letters to their origin topic, original bytes and headers.

A dead letter larger than the broker takes (``KafkaSettings.max_message_bytes``: the
original bytes plus the ``dlq_*`` headers) is stored truncated: the full record goes to
the service's database first (collection ``_dead_letter_bodies``), the letter keeps a
prefix of the value and the headers that fit, and ``dlq_full_ref`` names the stored
record (``dlq_full_size`` its size). Replaying such a letter sends the full bytes from
the database, never the truncated ones. A truncated letter fits by construction, so
dead-lettering cannot fail on size and loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, NamedTuple

from kauppa.contracts.cloudevents import header_map
from kauppa.contracts.topics import dead_letter_topic
from kauppa.servicekit.erasures import ErasureIndex, identities_in_bytes
from kauppa.servicekit.ids import is_safe_id
from kauppa.servicekit.logging import get_logger
from kauppa.servicekit.producer import EventProducer, ProducerRecord
from kauppa.servicekit.repository import Document
from kauppa.servicekit.settings import KafkaSettings
from kauppa.servicekit.tail import open_groupless_consumer
from kauppa.servicekit.unit_of_work import RECORD_FRAMING, record_bytes
from pymongo.asynchronous.database import AsyncDatabase

DLQ_PREFIX = "dlq_"
BODIES = "_dead_letter_bodies"
"""The full records of dead letters too large for the dead-letter topic."""
FULL_REF = "dlq_full_ref"
FULL_SIZE = "dlq_full_size"
KEY_KEPT = 256  # bytes of an oversized key kept on a truncated letter
BODY_MAX = 15 * 1024 * 1024  # a MongoDB document holds 16 MB: a larger value is cut there too

log = get_logger(__name__)


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
    def full_ref(self) -> str | None:
        """Where the full record of a truncated letter is stored (``BODIES``), else None."""
        return header_map(self.record.headers).get(FULL_REF)

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
        except (ValueError, UnicodeDecodeError, RecursionError):
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

    @cached_property
    def identities(self) -> set[str]:
        """The customer ids, business ids and email addresses anywhere in the body, as
        ``kauppa.servicekit.erasures`` keys them (what an erasure check looks up). Of a
        truncated letter, only what its kept prefix shows (see ``full_record``)."""
        return identities_in_bytes(self.record.value)

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
            "full_ref": self.full_ref,
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


def _body_id(record: ProducerRecord) -> str:
    """The same dead letter sent again (a retried send) stores its body once."""
    h = {k: v for k, v in record.headers if k.startswith(DLQ_PREFIX)}
    origin = b"/".join(
        h.get(k, b"") for k in ("dlq_service", "dlq_origin_topic", "dlq_origin_partition")
    )
    offset = h.get("dlq_origin_offset", b"-1")
    if offset != b"-1":
        return f"{origin.decode(errors='replace')}@{offset.decode(errors='replace')}"
    digest = hashlib.sha256(record.value or b"")
    digest.update(record.key or b"")
    for k, v in record.headers:
        if not k.startswith(DLQ_PREFIX):
            digest.update(k.encode() + b"\0" + v)
    return f"{origin.decode(errors='replace')}#{digest.hexdigest()[:32]}"


def truncated(record: ProducerRecord, ref: str, max_bytes: int) -> ProducerRecord:
    """``record`` cut to fit in ``max_bytes``: the ``dlq_*`` headers (the reason cut only
    under a tiny limit), then the original headers that fit, then a prefix of the value;
    a long key cut to ``KEY_KEPT`` bytes; ``FULL_REF`` and ``FULL_SIZE`` added."""
    size = record_bytes(record)
    key = record.key if record.key is None or len(record.key) <= KEY_KEPT else record.key[:KEY_KEPT]
    own = [(k, v) for k, v in record.headers if k.startswith(DLQ_PREFIX)]
    own += [(FULL_REF, ref.encode()), (FULL_SIZE, str(size).encode())]
    excess = record_bytes(ProducerRecord(record.topic, key, b"", own)) - max_bytes
    if excess > 0:  # a tiny limit: the reason gives way (the database has it whole)
        own = [(k, v[: max(0, len(v) - excess)] if k == "dlq_reason" else v) for k, v in own]
    kept: list[tuple[str, bytes]] = []
    used = record_bytes(ProducerRecord(record.topic, key, b"", own))
    for name, header in record.headers:
        cost = record_bytes(ProducerRecord("", None, None, [(name, header)])) - RECORD_FRAMING
        if not name.startswith(DLQ_PREFIX) and used + cost <= max_bytes:
            kept.append((name, header))
            used += cost
    out = ProducerRecord(record.topic, key, b"", [*kept, *own])
    room = max(0, max_bytes - record_bytes(out))
    value = None if record.value is None else record.value[:room]
    return ProducerRecord(record.topic, key, value, out.headers)


async def send_dead_letters(
    producer: EventProducer,
    db: AsyncDatabase[Document],
    records: Sequence[ProducerRecord],
    max_bytes: int | None = None,
) -> None:
    """Send dead-letter records; one larger than ``max_bytes`` (by default the producer's
    ``max_message_bytes``) is stored whole in ``BODIES`` first and sent truncated
    (``truncated``), so it always fits."""
    limit = max_bytes if max_bytes is not None else producer.settings.max_message_bytes
    out: list[ProducerRecord] = []
    for record in records:
        if record_bytes(record) <= limit:
            out.append(record)
            continue
        ref = _body_id(record)
        whole = record_bytes(record) <= BODY_MAX  # else kept cut, and never replayed
        await db[BODIES].replace_one(
            {"_id": ref},
            {
                "_id": ref,
                "topic": record.topic,
                "key": record.key if whole else (record.key or b"")[:KEY_KEPT],
                "value": record.value if whole else (record.value or b"")[: BODY_MAX // 2],
                "headers": [[k, v] for k, v in record.headers] if whole else [],
                "size": record_bytes(record),
                "whole": whole,
                "at": datetime.now(UTC),
            },
            upsert=True,
        )
        letter = truncated(record, ref, limit)
        log.error(
            "dead_letter_truncated",
            full_ref=ref,
            size=record_bytes(record),
            max_message_bytes=limit,
            kept=record_bytes(letter),
        )
        out.append(letter)
    await producer.send_all(out)


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
    db: AsyncDatabase[Document] | None = None,
) -> list[DeadLetter]:
    """Re-publish the chosen dead letters to their origin topics, original bytes and
    headers, plus ``replayed_from`` naming the dead letter. Returns what was replayed.
    ``db``: the service's database, where truncated letters' full bytes are kept."""
    chosen = [d for d in await read_dead_letters(settings, service) if select(d)]
    if not chosen:
        return []
    own = producer is None
    prod = producer or EventProducer(settings, client_id=f"kauppa-dlq-replay-{service}")
    if own:
        await prod.start()
    try:
        await republish(prod, chosen, db)
    finally:
        if own:
            await prod.stop()
    return chosen


@dataclass(frozen=True)
class CheckedReplay:
    replayed: list[DeadLetter]
    refused: list[tuple[DeadLetter, list[str]]]
    """Letters of erased customers, each with what matched (``customer``,
    ``business_id``, ``email``)."""


async def replay_unless_erased(
    settings: KafkaSettings,
    service: str,
    select: Callable[[DeadLetter], bool],
    erasures: ErasureIndex,
    *,
    force: bool = False,
    db: AsyncDatabase[Document] | None = None,
) -> CheckedReplay:
    """``replay``, but a chosen letter whose full record names an erased customer (its
    id, business id or email, see ``kauppa.servicekit.erasures``) is refused, unless
    ``force``: replayed, it would bring the person's data back."""
    chosen = [d for d in await read_dead_letters(settings, service) if select(d)]
    replayable: list[DeadLetter] = []
    refused: list[tuple[DeadLetter, list[str]]] = []
    for d in chosen:
        full = await full_record(d, db)
        # A truncated letter's organisation is read from its full record.
        org = d.organisation_id if d.full_ref is None else replace(d, record=full).organisation_id
        matched = erasures.matches(org, identities_in_bytes(full.value))
        if matched and not force:
            refused.append((d, matched))
        else:
            replayable.append(d)
    if replayable:
        producer = EventProducer(settings, client_id=f"kauppa-dlq-replay-{service}")
        await producer.start()
        try:
            await republish(producer, replayable, db)
        finally:
            await producer.stop()
    return CheckedReplay(replayable, refused)


async def full_record(d: DeadLetter, db: AsyncDatabase[Document] | None) -> RawRecord:
    """The dead letter's record as it was: a truncated letter's full bytes come from the
    service's database (``BODIES``); without them it is refused, never sent cut."""
    ref = d.full_ref
    if ref is None:
        return d.record
    if db is None:
        raise LookupError(f"dead letter {ref} was truncated: its service's database is needed")
    doc = await db[BODIES].find_one({"_id": ref})
    if doc is None or not doc.get("whole", True):
        raise LookupError(f"the full bytes of dead letter {ref} are not in {db.name}.{BODIES}")
    return d.record._replace(
        key=doc["key"], value=doc["value"], headers=[(h[0], bytes(h[1])) for h in doc["headers"]]
    )


async def republish(
    producer: EventProducer,
    letters: Sequence[DeadLetter],
    db: AsyncDatabase[Document] | None = None,
) -> None:
    """Send dead letters already read back to their origin topics: original bytes and
    headers (a truncated letter's from ``db``, see ``full_record``), plus
    ``replayed_from`` naming the dead letter."""
    records = []
    for d in letters:
        full = await full_record(d, db)
        records.append(
            ProducerRecord(
                d.origin_topic,
                full.key,
                full.value,
                [(k, v) for k, v in full.headers if not k.startswith(DLQ_PREFIX)]
                + [
                    (
                        "replayed_from",
                        f"{d.record.topic}/{d.record.partition}@{d.record.offset}".encode(),
                    )
                ],
            )
        )
    await producer.send_all(records)
