"""The unit of work a handler gets: the database inside the batch's transaction, the clock,
and a way to emit events and schedule timers that commit with the state change."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kauppa.contracts import Envelope, Event, derived_event_id, envelope, to_kafka
from kauppa.servicekit.producer import ProducerRecord
from pymongo import DeleteOne, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

INBOX = "_inbox"
OUTBOX = "_outbox"
TIMERS = "_timers"
IDEMPOTENCY = "_idempotency"
OUTBOX_ROW_BYTES = 4 * 1024 * 1024
RECORD_ALLOWANCE = 2048  # bytes per record beyond its value: key, headers, framing

Document = dict[str, Any]


def record_of(env: Envelope) -> ProducerRecord:
    topic, key, value, headers = to_kafka(env)
    return ProducerRecord(topic, key, value, headers)


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


@dataclass
class UnitOfWork:
    """Everything one transaction will commit. Handlers write state through ``db`` with
    ``session=uow.session``; events and timers go through ``emit`` and ``schedule``."""

    db: AsyncDatabase[Document]
    session: AsyncClientSession
    now: datetime
    source: str
    outgoing: list[Envelope] = field(default_factory=list)
    records: list[ProducerRecord] = field(default_factory=list)
    timer_ops: list[UpdateOne | DeleteOne] = field(default_factory=list)
    cause_id: str | None = None
    outbox_ids: list[str] = field(default_factory=list)
    _per_cause: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def collection(self, name: str) -> AsyncCollection[Document]:
        return self.db[name]

    def emit(self, event: Event, *, cause: Envelope | None = None) -> Envelope:
        """Queue an event for the outbox. Caused events (by an incoming event, or by the
        unit of work's ``cause_id``, e.g. a timer firing) get deterministic ids, so a
        re-run after a crash emits the same ids and consumers drop the repeat."""
        event_id = None
        cause_id = cause.id if cause is not None else self.cause_id
        if cause_id is not None:
            n = self._per_cause[cause_id]
            self._per_cause[cause_id] += 1
            event_id = derived_event_id(cause_id, event.ce_type(), event.partition_key(), n)
        env = envelope(event, source=self.source, cause=cause, event_id=event_id, time=self.now)
        self.outgoing.append(env)
        self.records.append(record_of(env))  # encoded once: outbox row and publish
        return env

    def schedule(
        self,
        key: str,
        due_at: datetime,
        kind: str,
        payload: Document | None = None,
        *,
        replace: bool = True,
    ) -> None:
        """A durable timer under a deterministic ``key``. ``replace`` re-arms an existing
        timer (new time, scheduled again); otherwise an existing key is left alone."""
        fields = {"due_at": due_at, "kind": kind, "payload": payload or {}, "state": "scheduled"}
        unset = {"claimed_by": "", "claim_until": "", "fired_at": "", "lateness_seconds": ""}
        if replace:
            op = UpdateOne(
                {"_id": key},
                {"$set": {**fields, "scheduled_at": self.now}, "$unset": unset},
                upsert=True,
            )
        else:
            op = UpdateOne(
                {"_id": key}, {"$setOnInsert": {**fields, "scheduled_at": self.now}}, upsert=True
            )
        self.timer_ops.append(op)

    def cancel(self, key: str) -> None:
        self.timer_ops.append(DeleteOne({"_id": key, "state": "scheduled"}))

    async def flush(self) -> None:
        """Write queued timers and outbox events inside the transaction."""
        if self.timer_ops:
            await self.db[TIMERS].bulk_write(self.timer_ops, ordered=True, session=self.session)
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
