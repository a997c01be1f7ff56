"""One way to change state: a transaction holding the change, its events (outbox) and its
timers, then publishing the events after commit. Used by the event pipeline, the timers
and the HTTP commands alike."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from kauppa.contracts import Envelope
from kauppa.servicekit.clock import Clock
from kauppa.servicekit.logging import get_logger
from kauppa.servicekit.metrics import ServiceMetrics
from kauppa.servicekit.mongo import in_transaction, is_transient
from kauppa.servicekit.outbox import OutboxPublisher
from kauppa.servicekit.unit_of_work import UnitOfWork
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

T = TypeVar("T")
Document = dict[str, Any]
log = get_logger(__name__)


class Committer:
    def __init__(
        self,
        client: AsyncMongoClient[Document],
        db: AsyncDatabase[Document],
        clock: Clock,
        publisher: OutboxPublisher,
        metrics: ServiceMetrics,
        source: str,
    ) -> None:
        self.client, self.db, self.clock = client, db, clock
        self.publisher, self.metrics, self.source = publisher, metrics, source

    async def transact(
        self, work: Callable[[UnitOfWork], Awaitable[T]]
    ) -> tuple[T, list[Envelope]]:
        """Commit ``work`` with its events and timers; nothing is published yet."""

        async def body(session: AsyncClientSession) -> tuple[T, list[Envelope]]:
            uow = UnitOfWork(self.db, session, self.clock.now(), self.source)
            result = await work(uow)
            await uow.flush()
            return result, list(uow.outgoing)

        return await in_transaction(self.client, body)

    async def publish(self, envelopes: list[Envelope]) -> None:
        """Publish committed events. A failure here loses nothing: the rows stay in the
        outbox and the relay sends them."""
        try:
            await self.publisher.publish_committed(envelopes)
        except Exception as exc:
            log.warning("publish_after_commit_failed", error=str(exc), count=len(envelopes))

    async def commit(self, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        """Commit, then publish. Retries transient database trouble with backoff."""
        result, outgoing = await retry_transient(lambda: self.transact(work), self.metrics)
        await self.publish(outgoing)
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
            log.warning("transient_failure_retrying", error=str(exc)[:300], retry_in=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_delay)
