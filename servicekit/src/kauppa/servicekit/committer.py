"""One way to change state: a transaction holding the change, its events (outbox) and its
timers, then publishing the events after commit. Used by the event pipeline, the timers
and the HTTP commands alike."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from kauppa.contracts import Envelope, Event
from kauppa.servicekit import tracing
from kauppa.servicekit.clock import Clock
from kauppa.servicekit.logging import get_logger
from kauppa.servicekit.metrics import ServiceMetrics
from kauppa.servicekit.mongo import in_transaction, is_transient
from kauppa.servicekit.outbox import OutboxPublisher
from kauppa.servicekit.producer import ProducerRecord
from kauppa.servicekit.repository import Document
from kauppa.servicekit.unit_of_work import UnitOfWork
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

T = TypeVar("T")
log = get_logger(__name__)


@dataclass(slots=True)
class Committed:
    """What transactions committed for publishing: their events, the events' records as
    encoded once for the outbox row (publishing reuses the bytes), and the outbox rows to
    delete once they went out."""

    events: list[Envelope] = field(default_factory=list)
    records: list[ProducerRecord] = field(default_factory=list)
    rows: list[str] = field(default_factory=list)

    def extend(self, other: Committed) -> None:
        self.events.extend(other.events)
        self.records.extend(other.records)
        self.rows.extend(other.rows)


class Committer:
    def __init__(
        self,
        client: AsyncMongoClient[Document],
        db: AsyncDatabase[Document],
        clock: Clock,
        publisher: OutboxPublisher,
        metrics: ServiceMetrics,
        source: str,
        *,
        max_record_bytes: int | None = None,
    ) -> None:
        self.client, self.db, self.clock = client, db, clock
        self.publisher, self.metrics, self.source = publisher, metrics, source
        # Outgoing events are checked against the broker's max message size before
        # commit (``OversizedEvent``); by default the producer's setting.
        producer = getattr(publisher, "producer", None)
        self.max_record_bytes = (
            max_record_bytes
            if max_record_bytes is not None or producer is None
            else producer.settings.max_message_bytes
        )
        self._queue: asyncio.Queue[Committed] | None = None
        # Every event the service declares; outside a declared handler, what it may emit.
        self.declared: frozenset[type[Event]] | None = None
        self._worker: asyncio.Task[None] | None = None

    async def transact(
        self, work: Callable[[UnitOfWork], Awaitable[T]], *, cause_id: str | None = None
    ) -> tuple[T, Committed]:
        """Commit ``work`` with its events and timers; nothing is published yet."""
        runs = 0

        async def body(
            session: AsyncClientSession,
        ) -> tuple[T, UnitOfWork]:
            nonlocal runs
            runs += 1
            if runs > 1:  # the driver runs it again: a conflict or a transient error
                self.metrics.transaction_reruns.labels(self.metrics.service).inc()
            uow = UnitOfWork(
                self.db,
                session,
                self.clock.now(),
                self.source,
                cause_id=cause_id,
                max_record_bytes=self.max_record_bytes,
                declared=self.declared,
            )
            result = await work(uow)
            await uow.flush()
            return result, uow

        result, uow = await in_transaction(self.client, body)
        return result, Committed(uow.outgoing, uow.records, uow.outbox_ids)

    async def publish(self, committed: Committed) -> None:
        """Publish committed events. A failure here loses nothing: the rows stay in the
        outbox and the relay sends them."""
        try:
            with tracing.publishing(committed.events, self.metrics.service):  # tracing hook
                await self.publisher.publish_committed(
                    committed.events, committed.records, committed.rows
                )
        except Exception as exc:
            log.warning(
                "publish_after_commit_failed",
                error_type=type(exc).__name__,
                error=str(exc),
                count=len(committed.events),
            )

    def start_background_publishing(self, depth: int = 4) -> None:
        """Publish consumed batches' events from one ordered queue, so the next batch's
        transaction overlaps this batch's produce. Order is kept (one worker); the queue
        depth bounds memory and applies back-pressure."""
        self._queue = asyncio.Queue(maxsize=depth)
        self._worker = asyncio.create_task(self._publish_worker(), name="outbox publisher")

    async def _publish_worker(self) -> None:
        """Publishes whatever has been committed since its last send, in one send: a
        batch committed while the send before is in flight waits for that one only,
        not for a queue of sends one by one."""
        queue = self._queue
        assert queue is not None
        while True:
            committed = await queue.get()
            taken = 1
            if not queue.empty():
                merged = Committed()  # the callers' objects stay as they were
                merged.extend(committed)
                while not queue.empty():
                    merged.extend(queue.get_nowait())
                    taken += 1
                committed = merged
            try:
                await self.publish(committed)
            finally:
                for _ in range(taken):
                    queue.task_done()

    async def publish_soon(self, committed: Committed) -> None:
        """Queue for publishing (or publish now when no background worker runs). The
        events are committed already: the outbox covers a crash before they go out."""
        if self._queue is None:
            await self.publish(committed)
        elif committed.events:
            await self._queue.put(committed)

    async def stop_background_publishing(self) -> None:
        if self._queue is None or self._worker is None:
            return
        await self._queue.join()
        self._worker.cancel()
        await asyncio.gather(self._worker, return_exceptions=True)
        self._queue, self._worker = None, None

    async def commit(
        self, work: Callable[[UnitOfWork], Awaitable[T]], *, cause_id: str | None = None
    ) -> T:
        """Commit, then publish. Retries transient database trouble with backoff.
        ``cause_id`` makes the ids of emitted events deterministic (see UnitOfWork.emit)."""
        result, committed = await retry_transient(
            lambda: self.transact(work, cause_id=cause_id), self.metrics
        )
        await self.publish(committed)
        return result


async def retry_transient(
    attempt: Callable[[], Awaitable[T]],
    metrics: ServiceMetrics,
    *,
    first_delay: float = 0.1,
    max_delay: float = 5.0,
    give_up_after: float | None = None,
) -> T:
    """Retry on database/broker trouble with exponential backoff; other errors propagate."""
    delay = first_delay
    loop = asyncio.get_running_loop()
    started = loop.time()
    while True:
        try:
            return await attempt()
        except Exception as exc:
            if not is_transient(exc):
                raise
            if give_up_after is not None and loop.time() - started > give_up_after:
                raise
            metrics.transient_retries.labels(metrics.service).inc()
            log.warning(
                "transient_failure_retrying",
                error_type=type(exc).__name__,
                error=str(exc)[:300],
                retry_in=delay,
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)
