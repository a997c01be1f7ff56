"""The unit of work a handler gets: the database inside the batch's transaction, the clock,
and a way to emit events and schedule timers that commit with the state change."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from kauppa.contracts import Envelope, Event, derived_event_id, envelope, to_kafka
from kauppa.servicekit import tracing
from kauppa.servicekit.emits import check as check_declared
from kauppa.servicekit.producer import ProducerRecord
from kauppa.servicekit.repository import BoundCollection, Document
from pymongo import DeleteOne, InsertOne, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

INBOX = "_inbox"
OUTBOX = "_outbox"
TIMERS = "_timers"
IDEMPOTENCY = "_idempotency"
OUTBOX_ROW_BYTES = 4 * 1024 * 1024
RECORD_ALLOWANCE = 2048  # bytes per record beyond its value: key, headers, framing
RECORD_FRAMING = 128  # a record's own framing in a batch, and the batch's header (61 bytes)

R = TypeVar("R")


def record_bytes(record: ProducerRecord) -> int:
    """What a record weighs against the broker's max message size: key, value, headers
    and framing, uncompressed (compression can only help)."""
    headers = sum(len(k.encode()) + len(v) + 10 for k, v in record.headers)
    return len(record.key or b"") + len(record.value or b"") + headers + RECORD_FRAMING


class OversizedEvent(ValueError):
    """An outgoing event is larger than the broker takes (``KafkaSettings.max_message_bytes``).
    Raised by ``UnitOfWork.emit`` before anything commits: the transaction rolls back, an
    HTTP command answers 413, an event handler's cause is dead-lettered."""

    def __init__(self, type_name: str, size: int, limit: int) -> None:
        self.type_name, self.size, self.limit = type_name, size, limit
        super().__init__(
            f"{type_name} event of {size} bytes exceeds the broker's max message size "
            f"of {limit} bytes"
        )


def check_size(record: ProducerRecord, type_name: str, limit: int | None) -> None:
    """Raise ``OversizedEvent`` when ``record`` would not fit in one broker message."""
    if limit is not None and (size := record_bytes(record)) > limit:
        raise OversizedEvent(type_name, size, limit)


def record_of(env: Envelope) -> ProducerRecord:
    topic, key, value, headers = to_kafka(env)
    return ProducerRecord(topic, key, value, headers)


@dataclass(frozen=True, slots=True)
class Emission:
    """An event wrapped and encoded, ready for the outbox and for publishing."""

    envelope: Envelope
    record: ProducerRecord


def emission(
    event: Event,
    *,
    source: str,
    time: datetime,
    cause_id: str | None,
    n: int,
    cause: Envelope | None,
) -> Emission:
    """Wrap and encode an event (pure). A caused event's id is derived from its cause
    and its place ``n`` among that cause's events, so a re-run emits the same ids."""
    event_id = (
        derived_event_id(cause_id, event.ce_type(), event.partition_key(), n)
        if cause_id is not None
        else None
    )
    env = envelope(event, source=source, cause=cause, event_id=event_id, time=time)
    if tracing.ON:  # tracing hook: the event's traceparent is its ``create`` span
        env.traceparent = tracing.traceparent_for(env, cause)
    return Emission(env, record_of(env))  # encoded once: outbox row and publish


class Preparation:
    """The pure step before a batch's transaction (see ``Handlers.on_batch(prepare=)``),
    run while the batch before commits. ``now`` is the clock when it ran. ``emit`` wraps
    and encodes an event; the handler queues it with ``UnitOfWork.emit_prepared``, or
    drops it (say, the state shows the event had its effect before)."""

    def __init__(self, source: str, now: datetime) -> None:
        self.source, self.now = source, now
        self.plans: dict[str, Any] = {}  # event id -> what ``prepare`` returned
        self.counts: dict[str, int] = defaultdict(int)  # events emitted per cause

    def run(self, prepare: Callable[[Envelope, Preparation], Any], env: Envelope) -> None:
        """Prepare an event, once: a copy of an event already prepared in this batch is
        not prepared again (the inbox drops it, and its numbers would shift the ids)."""
        if env.id not in self.plans:
            self.plans[env.id] = prepare(env, self)

    def emit(self, event: Event, *, cause: Envelope) -> Emission:
        n = self.counts[cause.id]
        self.counts[cause.id] += 1
        return emission(
            event, source=self.source, time=self.now, cause_id=cause.id, n=n, cause=cause
        )


def outbox_record(env: Envelope, record: ProducerRecord) -> Document:
    topic, key, value, headers = record
    return {
        "id": env.id,
        "type": env.event.type_name,
        "topic": topic,
        "key": key,
        "value": value,
        "headers": headers,  # (name, bytes) pairs; BSON stores tuples as arrays
    }


def outbox_document(
    outbox_id: str,
    envelopes: list[Envelope],
    records: list[ProducerRecord],
    created_at: datetime,
) -> Document:
    """An outbox row holding a transaction's events in order: one write to commit and one
    delete after publishing, however many events it holds (a transaction whose events
    exceed a document's size gets several, see ``_chunks``)."""
    return {
        "_id": outbox_id,
        "records": [outbox_record(e, r) for e, r in zip(envelopes, records, strict=True)],
        "count": len(envelopes),
        "created_at": created_at,
        "claimed_by": None,
        "claim_until": None,
    }


@dataclass(frozen=True, slots=True)
class TimerRequest:
    """A durable timer a unit of work arms (``cancel``: disarms ``key`` if still
    scheduled); written with the transaction."""

    key: str
    due_at: datetime | None = None
    kind: str = ""
    payload: Document = field(default_factory=dict)
    replace: bool = True
    new: bool = False
    cancel: bool = False

    def operation(self, now: datetime) -> UpdateOne | DeleteOne | InsertOne[Document]:
        if self.cancel:
            return DeleteOne({"_id": self.key, "state": "scheduled"})
        fields = {
            "due_at": self.due_at,
            "kind": self.kind,
            "payload": self.payload,
            "state": "scheduled",
        }
        if self.new:
            return InsertOne({"_id": self.key, **fields, "scheduled_at": now})
        if self.replace:
            unset = {"claimed_by": "", "claim_until": "", "fired_at": "", "lateness_seconds": ""}
            return UpdateOne(
                {"_id": self.key},
                {"$set": {**fields, "scheduled_at": now}, "$unset": unset},
                upsert=True,
            )
        return UpdateOne(
            {"_id": self.key}, {"$setOnInsert": {**fields, "scheduled_at": now}}, upsert=True
        )


@dataclass
class Effects:
    """What an aggregate's verb causes beyond its own state: the events to emit (in
    order) and the timers to arm or cancel. Pure data: domain code returns it, the unit
    of work carries it out (``UnitOfWork.carry_out``)."""

    events: list[Event] = field(default_factory=list)
    timers: list[TimerRequest] = field(default_factory=list)

    def __iadd__(self, other: Effects) -> Effects:
        self.events.extend(other.events)
        self.timers.extend(other.timers)
        return self


@dataclass
class UnitOfWork:
    """Everything one transaction will commit. State goes through ``collection(name)``
    (bound to the transaction's session: a service's repository module uses it, and no
    handler passes ``session=``); events and timers go through ``emit`` and
    ``schedule``."""

    db: AsyncDatabase[Document]
    session: AsyncClientSession
    now: datetime
    source: str
    outgoing: list[Envelope] = field(default_factory=list)
    records: list[ProducerRecord] = field(default_factory=list)
    timers: list[TimerRequest] = field(default_factory=list)
    cause_id: str | None = None
    outbox_ids: list[str] = field(default_factory=list)
    preparation: Preparation | None = None
    max_record_bytes: int | None = None  # the broker's max message size; None: unchecked
    declared: frozenset[type[Event]] | None = None  # the service's events (see emits.py)
    _per_cause: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    _repositories: dict[type[Any], Any] = field(default_factory=dict)

    def collection(self, name: str) -> BoundCollection:
        """``name`` in this unit of work's transaction."""
        return BoundCollection(self.db[name], self.session)

    def repository(self, kind: type[R]) -> R:
        """The service's repository ``kind`` (built as ``kind(uow)``, once per unit of
        work): where handlers and commands load and save aggregates."""
        repo = self._repositories.get(kind)
        if repo is None:
            repo = self._repositories[kind] = kind(self)  # type: ignore[call-arg]
        return repo

    @property
    def events(self) -> list[Event]:
        """The events queued so far, in order."""
        return [e.event for e in self.outgoing]

    def emit(self, event: Event, *, cause: Envelope | None = None) -> Envelope:
        """Queue an event for the outbox. Caused events (by an incoming event, or by the
        unit of work's ``cause_id``, e.g. a timer firing) get deterministic ids, so a
        re-run after a crash emits the same ids and consumers drop the repeat."""
        cause_id = cause.id if cause is not None else self.cause_id
        n = 0
        if cause_id is not None:
            n = self._per_cause[cause_id]
            self._per_cause[cause_id] += 1
        return self.emit_prepared(
            emission(event, source=self.source, time=self.now, cause_id=cause_id, n=n, cause=cause)
        )

    def carry_out(self, effects: Effects, cause: Envelope | None = None) -> list[Envelope]:
        """Emit a verb's events (caused by ``cause``, if any) and arm or cancel its
        timers, all with this transaction; returns the envelopes, in order."""
        envelopes = [self.emit(event, cause=cause) for event in effects.events]
        self.timers.extend(effects.timers)
        return envelopes

    def plan(self, env: Envelope) -> Any:
        """What the handler's ``prepare`` step returned for this event (None without one)."""
        return self.preparation.plans.get(env.id) if self.preparation is not None else None

    def adopt(self, prepared: Preparation) -> None:
        """Take a batch's preparation: its plans, and its events' numbers per cause (an
        ``emit`` in the transaction numbers after them, so no two ids ever meet)."""
        self.preparation = prepared
        self._per_cause.update(prepared.counts)

    def emit_prepared(self, prepared: Emission) -> Envelope:
        """Queue an event wrapped and encoded before the transaction (``Preparation``).
        An event larger than the broker takes raises ``OversizedEvent`` here, before commit."""
        check_size(prepared.record, prepared.envelope.event.type_name, self.max_record_bytes)
        check_declared(prepared.envelope.event, self.declared)
        self.outgoing.append(prepared.envelope)
        self.records.append(prepared.record)
        return prepared.envelope

    def schedule(
        self,
        key: str,
        due_at: datetime,
        kind: str,
        payload: Document | None = None,
        *,
        replace: bool = True,
        new: bool = False,
    ) -> None:
        """A durable timer under a deterministic ``key``. ``replace`` re-arms an existing
        timer (new time, scheduled again); otherwise an existing key is left alone.

        ``new``: the key cannot exist yet, e.g. the timer of an entity this transaction
        inserts, so the timer is inserted too. An upsert looks the key up first and costs
        mongod several times the work of an insert in a batch. Were the key taken after all,
        the write fails as inserting the entity itself would (taken by a concurrent
        transaction: a write conflict, and the batch re-runs on fresh data)."""
        self.timers.append(TimerRequest(key, due_at, kind, payload or {}, replace, new))

    def cancel(self, key: str) -> None:
        self.timers.append(TimerRequest(key, cancel=True))

    async def flush(self) -> None:
        """Write queued timers and outbox events inside the transaction."""
        if self.timers:
            ops = [t.operation(self.now) for t in self.timers]
            await self.db[TIMERS].bulk_write(ops, ordered=True, session=self.session)
        if self.outgoing:
            rows = []
            for start, end in _chunks(self.records, OUTBOX_ROW_BYTES):
                outbox_id = uuid.uuid4().hex
                self.outbox_ids.append(outbox_id)
                rows.append(
                    outbox_document(
                        outbox_id, self.outgoing[start:end], self.records[start:end], self.now
                    )
                )
            await self.db[OUTBOX].insert_many(rows, session=self.session)


def _chunks(records: list[ProducerRecord], limit: int) -> list[tuple[int, int]]:
    """Index ranges of records whose size stays under ``limit`` (one outbox row each; a
    MongoDB document holds at most 16 MB). The size is estimated: the value plus a
    generous allowance for key, headers and BSON framing."""
    ranges, start, size = [], 0, 0
    for i, r in enumerate(records):
        n = len(r.value or b"") + RECORD_ALLOWANCE
        if size + n > limit and i > start:
            ranges.append((start, i))
            start, size = i, 0
        size += n
    ranges.append((start, len(records)))
    return ranges
