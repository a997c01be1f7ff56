"""The transactional outbox: publish after commit, and a relay for what a crash left.

One row per transaction holds the events it emitted, in order (a transaction emitting a
thousand events writes one row, not a thousand). The happy path publishes a batch's
events right after its transaction commits and then deletes the row. Rows older than a
grace period were left behind (a crash, a broker hiccup); the relay claims them with a
lease (so several replicas do not all send the same rows), publishes, and deletes them.
Consumers dedupe by event id, so a row sent twice (crash between publish and delete) is
harmless.

An event larger than the broker takes (``KafkaSettings.max_message_bytes``) is refused
before commit (``OversizedEvent``), so it should never be in a row. One that is anyway (a
row written before the check, or the limit lowered since) would be refused by the broker
on every relay round: the relay dead-letters it instead (reason ``event_too_large``, full
bytes kept in the database, see ``deadletters.send_dead_letters``), logs an error and
counts it in ``kauppa_dead_letters_total``, and sends the row's other events.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import timedelta

from kauppa.contracts import Envelope
from kauppa.servicekit.clock import Clock
from kauppa.servicekit.deadletters import RawRecord, dead_letter_record, send_dead_letters
from kauppa.servicekit.logging import get_logger
from kauppa.servicekit.metrics import ServiceMetrics
from kauppa.servicekit.mongo import is_transient
from kauppa.servicekit.producer import EventProducer, ProducerRecord
from kauppa.servicekit.repository import Document
from kauppa.servicekit.unit_of_work import OUTBOX, OversizedEvent, record_bytes
from pymongo.asynchronous.database import AsyncDatabase

log = get_logger(__name__)


class OutboxPublisher:
    def __init__(
        self,
        db: AsyncDatabase[Document],
        producer: EventProducer,
        metrics: ServiceMetrics,
        clock: Clock,
        *,
        grace: timedelta = timedelta(seconds=5),
        lease: timedelta = timedelta(seconds=30),
    ) -> None:
        self.db, self.producer, self.metrics, self.clock = db, producer, metrics, clock
        self.grace, self.lease = grace, lease
        self.owner = f"relay-{uuid.uuid4().hex[:12]}"
        self._pending_deletes: set[asyncio.Task[None]] = set()

    async def publish_committed(
        self,
        envelopes: Sequence[Envelope],
        records: Sequence[ProducerRecord],
        rows: Sequence[str] = (),
    ) -> None:
        """After commit: send the events' records, then forget the rows (in the
        background: the delete is housekeeping, correctness does not wait for it)."""
        if not envelopes:
            return
        await self.producer.send_all(records)
        for type_name, n in Counter(e.event.type_name for e in envelopes).items():
            self.metrics.events_out.labels(self.metrics.service, type_name).inc(n)
        if not rows:
            return
        task = asyncio.create_task(self._delete(list(rows)))
        self._pending_deletes.add(task)
        task.add_done_callback(self._pending_deletes.discard)

    async def _delete(self, ids: list[str]) -> None:
        try:
            await self.db[OUTBOX].delete_many({"_id": {"$in": ids}})
        except Exception as exc:  # the relay will resend; consumers dedupe
            log.warning(
                "outbox_delete_failed",
                error_type=type(exc).__name__,
                error=str(exc),
                count=len(ids),
            )

    async def drain(self) -> None:
        if self._pending_deletes:
            await asyncio.gather(*self._pending_deletes, return_exceptions=True)

    async def relay_once(self, limit: int = 50) -> int:
        """Publish rows left behind (at most ``limit`` rows). Returns how many events
        were sent."""
        now = self.clock.now()  # rows carry the service clock's time
        claimable = {
            "created_at": {"$lte": now - self.clock.span(self.grace)},
            "$or": [{"claim_until": None}, {"claim_until": {"$lt": now}}],
        }
        ids = [d["_id"] async for d in self.db[OUTBOX].find(claimable, {"_id": 1}).limit(limit)]
        if not ids:
            return 0
        token = f"{self.owner}-{uuid.uuid4().hex[:8]}"
        await self.db[OUTBOX].update_many(
            {"_id": {"$in": ids}, **claimable},
            {"$set": {"claimed_by": token, "claim_until": now + self.clock.span(self.lease)}},
        )
        rows = await self.db[OUTBOX].find({"claimed_by": token}).sort("created_at", 1).to_list()
        if not rows:
            return 0
        events = [record for row in rows for record in row["records"]]
        records = [
            ProducerRecord(
                r["topic"], r["key"], r["value"], [(h[0], bytes(h[1])) for h in r["headers"]]
            )
            for r in events
        ]
        limit = self.producer.settings.max_message_bytes
        too_large = [i for i, r in enumerate(records) if record_bytes(r) > limit]
        if too_large:
            await self._dead_letter_too_large([(events[i], records[i]) for i in too_large], limit)
            skip = set(too_large)
            events = [e for i, e in enumerate(events) if i not in skip]
            records = [r for i, r in enumerate(records) if i not in skip]
        await self.producer.send_all(records)
        await self.db[OUTBOX].delete_many({"_id": {"$in": [r["_id"] for r in rows]}})
        for type_name, n in Counter(r.get("type", "?") for r in events).items():
            self.metrics.events_out.labels(self.metrics.service, type_name).inc(n)
        self.metrics.outbox_relayed.labels(self.metrics.service).inc(len(events))
        return len(events)

    async def _dead_letter_too_large(
        self, found: list[tuple[Document, ProducerRecord]], limit: int
    ) -> None:
        """Park events the broker would refuse forever on the dead-letter topic, loudly."""
        service = self.metrics.service
        dead = []
        for row, record in found:
            error = OversizedEvent(row.get("type", "?"), record_bytes(record), limit)
            log.error(
                "outbox_event_too_large_dead_lettered",
                event_id=row.get("id"),
                event_type=row.get("type"),
                topic=record.topic,
                size=error.size,
                max_message_bytes=limit,
            )
            raw = RawRecord(record.topic, -1, -1, record.key, record.value, record.headers)
            dead.append(
                dead_letter_record(service, raw, "event_too_large", f"OversizedEvent: {error}")
            )
            self.metrics.dead_letters.labels(service, "event_too_large").inc()
        await send_dead_letters(self.producer, self.db, dead, limit)

    async def backlog(self) -> int:
        """Events committed but not yet published."""
        found = await (
            await self.db[OUTBOX].aggregate([{"$group": {"_id": None, "n": {"$sum": "$count"}}}])
        ).to_list()
        return int(found[0]["n"]) if found else 0

    async def run_relay(self, interval: float, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                sent = await self.relay_once()
                if sent:
                    log.info("outbox_relayed", count=sent)
            except Exception as exc:
                if not is_transient(exc):
                    log.exception("outbox_relay_failed")
                else:
                    log.warning(
                        "outbox_relay_waiting", error_type=type(exc).__name__, error=str(exc)
                    )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
